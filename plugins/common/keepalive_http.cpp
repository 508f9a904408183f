#include "keepalive_http.hpp"

#include <herd/sdk/error.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <optional>

#include <poll.h>
#include <sys/socket.h>

namespace herd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Url {
    bool tls = false;
    std::string host, port, target, origin;  // origin: scheme://host:port, the pool's key
};

Url parse_url(const std::string& url) {
    Url u;
    std::string rest;
    if (url.rfind("https://", 0) == 0) {
        u.tls = true;
        rest = url.substr(8);
    } else if (url.rfind("http://", 0) == 0) {
        rest = url.substr(7);
    } else {
        throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, url + ": not an http:// or https:// URL");
    }
    const size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    u.target = slash == std::string::npos ? "/" : rest.substr(slash);
    if (!authority.empty() && authority.front() == '[') {  // [v6]:port
        const size_t close = authority.find(']');
        u.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':') u.port = authority.substr(close + 2);
    } else if (const size_t colon = authority.rfind(':'); colon != std::string::npos) {
        u.host = authority.substr(0, colon);
        u.port = authority.substr(colon + 1);
    } else {
        u.host = authority;
    }
    if (u.port.empty()) u.port = u.tls ? "443" : "80";
    u.origin = (u.tls ? "https://" : "http://") + authority;
    return u;
}

}  // namespace

struct KeepAliveClient::Tls {
    asio::ssl::context ctx{asio::ssl::context::tls_client};
};

// A connected socket driven synchronously, each read and write bounded by one deadline with
// poll(2): per exchange a write, a read and a poll or two — no reactor, no timer syscalls (what
// an io_context with a per-operation timer costs shows up in the kernel time of bench/kv).
struct DeadlineSocket {
    tcp::socket& socket;
    std::chrono::steady_clock::time_point deadline;
    bool answer_pending = false;  // a request just went out: its answer takes a round trip, wait first
    using executor_type = tcp::socket::executor_type;
    using lowest_layer_type = tcp::socket::lowest_layer_type;
    executor_type get_executor() { return socket.get_executor(); }
    lowest_layer_type& lowest_layer() { return socket.lowest_layer(); }

    bool wait(short events, beast::error_code& ec) const {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ec = beast::error::timeout;
            return false;
        }
        pollfd p{socket.native_handle(), events, 0};
        const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30)));
        if (r == 0) ec = beast::error::timeout;
        else if (r < 0 && errno != EINTR) ec = beast::error_code(errno, boost::system::system_category());
        return !ec;
    }
    // One read or write: try it, and while the socket says "not yet", wait for it to be ready.
    template <class Op>
    size_t io(short ready, beast::error_code& ec, Op&& op) {
        for (;;) {
            const size_t n = op(ec);
            if (ec != asio::error::would_block && ec != asio::error::try_again) return n;
            ec = {};
            if (!wait(ready, ec)) return 0;
        }
    }
    template <class Buffers>
    size_t read_some(const Buffers& b, beast::error_code& ec) {
        if (answer_pending) {  // saves the recv that would only say "not yet"
            answer_pending = false;
            if (!wait(POLLIN, ec)) return 0;
        }
        return io(POLLIN, ec, [&](beast::error_code& e) { return socket.read_some(b, e); });
    }
    template <class Buffers>
    size_t write_some(const Buffers& b, beast::error_code& ec) {
        return io(POLLOUT, ec, [&](beast::error_code& e) { return socket.write_some(b, e); });
    }
    template <class Buffers>
    size_t read_some(const Buffers& b) {
        beast::error_code ec;
        const size_t n = read_some(b, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }
    template <class Buffers>
    size_t write_some(const Buffers& b) {
        beast::error_code ec;
        const size_t n = write_some(b, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }
};

struct KeepAliveClient::Connection {
    std::string origin;
    asio::io_context ioc;
    tcp::socket socket{ioc};
    DeadlineSocket timed{socket, {}};
    std::optional<asio::ssl::stream<DeadlineSocket&>> secure;
    beast::flat_buffer buffer;
    bool reused = false;
};

KeepAliveClient::KeepAliveClient(TlsFiles tls) : tls_(std::move(tls)), ssl_(std::make_unique<Tls>()) {
    auto& ctx = ssl_->ctx;
    beast::error_code ec;
    // Read once, here: a file that cannot be used is a configuration error of its key.
    auto fail = [&](const char* key, const std::string& file) {
        if (ec) throw sdk::ConfigError(key, (file.empty() ? std::string("the PEM data") : file) + ": " + ec.message());
    };
    if (!tls_.ca_pem.empty()) ctx.add_certificate_authority(asio::buffer(tls_.ca_pem), ec), fail("ca_file", "");
    else if (!tls_.ca_file.empty()) ctx.load_verify_file(tls_.ca_file, ec), fail("ca_file", tls_.ca_file);
    else ctx.set_default_verify_paths(ec);  // no system CAs: https fails at the handshake, saying so
    if (!tls_.cert_pem.empty()) ctx.use_certificate_chain(asio::buffer(tls_.cert_pem), ec), fail("cert_file", "");
    else if (!tls_.cert_file.empty()) ctx.use_certificate_chain_file(tls_.cert_file, ec), fail("cert_file", tls_.cert_file);
    if (!tls_.key_pem.empty()) ctx.use_private_key(asio::buffer(tls_.key_pem), asio::ssl::context::pem, ec), fail("key_file", "");
    else if (!tls_.key_file.empty()) ctx.use_private_key_file(tls_.key_file, asio::ssl::context::pem, ec), fail("key_file", tls_.key_file);
    ctx.set_verify_mode(tls_.insecure_skip_verify ? asio::ssl::verify_none : asio::ssl::verify_peer);
}

KeepAliveClient::~KeepAliveClient() = default;

std::unique_ptr<KeepAliveClient::Connection> KeepAliveClient::take(const std::string& origin) {
    std::lock_guard lk(mu_);
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it)
        if ((*it)->origin == origin) {
            auto c = std::move(*it);
            idle_.erase(std::next(it).base());
            c->reused = true;
            return c;
        }
    return nullptr;
}

void KeepAliveClient::give(std::unique_ptr<Connection> c) {
    std::lock_guard lk(mu_);
    if (idle_.size() < 64) idle_.push_back(std::move(c));
}

HttpResponse KeepAliveClient::perform(const HttpRequest& req) {
    const Url url = parse_url(req.url);
    const std::string what = req.method + " " + req.url + ": ";
    const auto timeout = req.timeout.count() > 0 ? req.timeout : std::chrono::hours(24);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto failure = [&](beast::error_code ec) -> sdk::Error {
        if (ec == beast::error::timeout)
            return sdk::Error(HERD_ERR_TIMEOUT, what + "no answer within " + std::to_string(timeout.count()) + " ms");
        std::string detail = ec.message();
        if (ec.category() == asio::error::get_ssl_category()) detail = "SSL: " + detail;
        return sdk::Error(HERD_ERR_UNAVAILABLE, what + detail);
    };

    // The request as bytes, written by hand: one allocation, no field container.
    std::string request;
    request.reserve(128 + req.url.size() + req.body.size());
    request.append(req.method).append(" ").append(url.target).append(" HTTP/1.1\r\nHost: ");
    request.append(url.host).append(":").append(url.port).append("\r\n");
    for (const auto& h : req.headers) request.append(h).append("\r\n");
    if (!req.body.empty() || req.method != "GET")
        request.append("Content-Length: ").append(std::to_string(req.body.size())).append("\r\n");
    request.append("\r\n").append(req.body);

    for (int attempt = 0;; ++attempt) {
        std::unique_ptr<Connection> c = attempt == 0 ? take(url.origin) : nullptr;
        beast::error_code ec;
        if (!c) {  // a new connection: resolve, connect (within connect_timeout), TLS handshake
            c = std::make_unique<Connection>();
            c->origin = url.origin;
            c->timed.deadline = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(req.connect_timeout, timeout);
            tcp::resolver resolver(c->ioc);
            auto endpoints = resolver.resolve(url.host, url.port, ec);  // an IP literal resolves at once
            if (ec) throw failure(ec);
            for (const auto& ep : endpoints) {
                ec = {};
                c->socket.close(ec);
                c->socket.open(ep.endpoint().protocol(), ec);
                if (ec) continue;
                c->socket.non_blocking(true, ec);
                c->socket.connect(ep.endpoint(), ec);
                if (ec == asio::error::in_progress || ec == asio::error::would_block) {
                    ec = {};
                    if (c->timed.wait(POLLOUT, ec)) {
                        int err = 0;
                        socklen_t len = sizeof err;
                        ::getsockopt(c->socket.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len);
                        if (err) ec = beast::error_code(err, boost::system::system_category());
                    }
                }
                if (!ec) break;
            }
            if (ec) throw failure(ec);
            c->socket.set_option(tcp::no_delay(true), ec);
            if (url.tls) {
                c->secure.emplace(c->timed, ssl_->ctx);
                if (!tls_.insecure_skip_verify) c->secure->set_verify_callback(asio::ssl::host_name_verification(url.host));
                SSL_set_tlsext_host_name(c->secure->native_handle(), url.host.c_str());
                c->timed.deadline = deadline;
                c->secure->handshake(asio::ssl::stream_base::client, ec);
                if (ec) throw failure(ec);
            }
        }
        c->timed.deadline = deadline;
        if (c->secure) asio::write(*c->secure, asio::buffer(request), ec);
        else asio::write(c->timed, asio::buffer(request), ec);
        c->timed.answer_pending = !ec && c->buffer.size() == 0;
        http::response_parser<http::string_body> parser;
        parser.body_limit(boost::none);  // a listing of a large prefix is large
        if (!ec) {
            if (c->secure) http::read(*c->secure, c->buffer, parser, ec);
            else http::read(c->timed, c->buffer, parser, ec);
        }
        if (ec) {
            // A kept-alive connection the server closed while idle: nothing was answered, so
            // nothing was done; once more on a new connection.
            const bool stale = c->reused && !parser.got_some() && ec != beast::error::timeout;
            if (stale && attempt == 0) continue;
            throw failure(ec);
        }
        auto& res = parser.get();
        HttpResponse out;
        out.status = res.result_int();
        for (const auto& f : res) {
            if (!req.keep_headers) break;
            std::string name(f.name_string());
            for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            out.headers[name] = std::string(f.value());
        }
        out.body = std::move(res.body());
        if (res.keep_alive()) give(std::move(c));
        return out;
    }
}

}  // namespace herd::net

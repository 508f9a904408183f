#include "admin/http_server.hpp"

#include "http/request_rules.hpp"
#include "util/host_port.hpp"
#include "util/log_limiter.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <set>
#include <stdexcept>
#include <thread>

namespace herd::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxBody = 1 << 20;
const http_rules::RequestLimits kLimits{100};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket s, const Handler& h, asio::thread_pool& pool, std::set<std::shared_ptr<Session>>& live,
            const bool& stopping)
        : stream_(std::move(s)), handler_(h), pool_(pool), live_(live), stopping_(stopping) {}

    void start() {
        live_.insert(shared_from_this());
        read();
    }
    // Closes the connection if it is idle (waiting for a request); busy ones close after replying.
    void close_if_idle() {
        if (!busy_) {
            beast::error_code ec;
            stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
            stream_.socket().close(ec);
        }
    }

private:
    void read() {
        parser_.emplace();
        parser_->body_limit(kMaxBody);
        parser_->header_limit(64 * 1024);
        stream_.expires_after(std::chrono::seconds(60));
        http::async_read_header(stream_, buffer_, *parser_,
                                [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
    }

    // The proxy's RFC 9112 rules apply here too: a request that cannot be framed safely is
    // refused with a 4xx and the connection closed, never answered as if it were two.
    void on_header(beast::error_code ec) {
        if (ec) return on_error(ec);
        if (auto r = http_rules::check_request(parser_->get(), kLimits)) return reply_error(r->status, r->reason);
        if (parser_->is_done()) return on_read({});
        if (parser_->get().version() >= 11 &&
            beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
            auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
            http::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code wec, size_t) {
                if (wec) return self->finish();
                self->read_body();
            });
            return;
        }
        read_body();
    }

    void read_body() {
        http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) return self->on_error(ec);
            self->on_read({});
        });
    }

    void on_error(beast::error_code ec) {
        if (auto r = http_rules::rejection_for_parse_error(ec)) {
            if (r->status == 413) r->reason = "request body over 1 MiB";
            return reply_error(r->status, r->reason);
        }
        if (ec == beast::error::timeout && buffer_.size() > 0) return reply_error(408, "the request was not completed in time");
        finish();
    }

    void on_read(beast::error_code ec) {
        if (ec) return on_error(ec);
        busy_ = true;
        auto req = parser_->release();
        Request r;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        auto q = r.target.find('?');
        r.path = r.target.substr(0, q);
        r.query = q == std::string::npos ? "" : r.target.substr(q + 1);
        r.body = std::move(req.body());
        for (const auto& f : req) {
            std::string name(f.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            r.headers.emplace_back(std::move(name), std::string(f.value()));
        }
        beast::error_code ec2;
        auto remote = stream_.socket().remote_endpoint(ec2);
        if (!ec2) r.peer = remote.address().to_string();
        const bool keep_alive = req.keep_alive(), head = req.method() == http::verb::head;
        // The handler runs on the pool; the answer is written back on the I/O thread. The work
        // guard keeps the I/O thread (and so stop()) waiting for it.
        asio::post(pool_, [self = shared_from_this(), r = std::move(r), keep_alive, head,
                           work = asio::make_work_guard(stream_.get_executor())]() mutable {
            Response out;
            try {
                out = self->handler_(r);
            } catch (const std::exception& e) {
                spdlog::error("admin {} {}: {}", r.method, r.target, e.what());
                out = {500, "text/plain; charset=utf-8", std::string("internal error: ") + e.what() + "\n", {}};
            }
            asio::post(work.get_executor(), [self, out = std::move(out), keep_alive, head]() mutable {
                self->send(std::move(out), keep_alive, head);
            });
        });
    }

    void reply_error(int status, const std::string& why) {
        busy_ = true;
        send({status, "text/plain; charset=utf-8", why + "\n", {}}, false, false);
    }

    void send(Response out, bool keep_alive, bool head) {
        auto res = std::make_shared<http::response<http::string_body>>();
        res->result(static_cast<unsigned>(out.status));
        res->version(11);
        res->set(http::field::server, "herd");
        res->set(http::field::content_type, out.content_type);
        for (auto& [k, v] : out.headers) res->set(k, v);
        res->keep_alive(keep_alive && !stopping_);
        if (head) {
            res->content_length(out.body.size());
        } else {
            res->body() = std::move(out.body);
            res->prepare_payload();
        }
        http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
            self->busy_ = false;
            if (ec) return self->finish();
            if (!res->keep_alive()) {
                beast::error_code ignored;
                self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                return self->linger();
            }
            self->read();
        });
    }

    // Closing right after an early answer (413, 400) would reset a connection the client is still
    // sending on, and it would never read the answer: read and discard for a bounded while first,
    // as nginx's lingering close does.
    void linger() {
        stream_.expires_after(std::chrono::seconds(5));
        auto scratch = std::make_shared<std::array<char, 16384>>();
        stream_.async_read_some(asio::buffer(*scratch), [self = shared_from_this(), scratch](beast::error_code ec, size_t n) {
            self->drained_ += n;
            if (ec || self->drained_ > (64u << 20)) return self->finish();
            self->linger();
        });
    }

    void finish() { live_.erase(shared_from_this()); }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    const Handler& handler_;
    asio::thread_pool& pool_;
    std::set<std::shared_ptr<Session>>& live_;
    const bool& stopping_;
    bool busy_ = false;
    size_t drained_ = 0;
};

}  // namespace

struct HttpServer::Impl {
    Handler handler;
    asio::io_context io{1};
    asio::thread_pool pool{4};  // handlers
    tcp::acceptor acceptor{io};
    std::set<std::shared_ptr<Session>> live;
    bool stopping = false;
    std::thread thread;
    std::string address;
    uint16_t port = 0;

    asio::steady_timer pause{io};
    util::LogLimiter accept_log{std::chrono::seconds(10)};

    void accept() {
        acceptor.async_accept([this](beast::error_code ec, tcp::socket s) {
            if (ec == asio::error::operation_aborted || stopping) return;
            if (!ec) {
                beast::error_code ignored;
                s.set_option(tcp::no_delay(true), ignored);
                std::make_shared<Session>(std::move(s), handler, pool, live, stopping)->start();
                return accept();
            }
            uint64_t held = 0;
            if (accept_log.allow(&held))
                spdlog::warn("admin accept failed: {}{}", ec.message(),
                             held ? " (" + std::to_string(held) + " more since the last report)" : "");
            // At the fd limit accept fails at once, forever: pause instead of spinning (as nginx does).
            pause.expires_after(std::chrono::milliseconds(100));
            pause.async_wait([this](beast::error_code) {
                if (!stopping) accept();
            });
        });
    }
};

HttpServer::HttpServer(Handler handler) : impl_(std::make_unique<Impl>()) { impl_->handler = std::move(handler); }

HttpServer::~HttpServer() { stop(); }

void HttpServer::start(const std::string& host_port) {
    auto fail = [&](const std::string& why) { throw std::runtime_error("cannot listen on " + host_port + ": " + why); };
    std::pair<std::string, uint16_t> hp;
    try {
        hp = util::split_host_port(host_port);
    } catch (const std::exception& e) {
        fail(e.what());
    }
    beast::error_code ec;
    tcp::resolver resolver(impl_->io);
    auto results = resolver.resolve(hp.first, std::to_string(hp.second), tcp::resolver::passive, ec);
    if (ec || results.empty()) fail("cannot resolve \"" + hp.first + "\": " + ec.message());
    tcp::endpoint ep = results.begin()->endpoint();
    impl_->acceptor.open(ep.protocol(), ec);
    if (ec) fail(ec.message());
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    impl_->acceptor.bind(ep, ec);
    if (ec) fail(ec.message());
    impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail(ec.message());
    impl_->port = impl_->acceptor.local_endpoint().port();
    impl_->address = host_port;
    impl_->accept();
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

void HttpServer::stop() {
    if (!impl_->thread.joinable()) return;
    asio::post(impl_->io, [this] {
        impl_->stopping = true;
        beast::error_code ec;
        impl_->acceptor.close(ec);
        impl_->pause.cancel();
        auto live = impl_->live;  // close_if_idle may erase from the set
        for (auto& s : live) s->close_if_idle();
    });
    impl_->thread.join();  // every handler has answered (each held a work guard)
    impl_->pool.join();
}

uint16_t HttpServer::port() const { return impl_->port; }
const std::string& HttpServer::address() const { return impl_->address; }

}  // namespace herd::admin

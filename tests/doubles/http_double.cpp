#include "http_double.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <sys/socket.h>

#include <condition_variable>
#include <list>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace herd::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            auto hex = [](char c) -> int {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                return -1;
            };
            int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += s[i] == '+' ? ' ' : s[i];
    }
    return out;
}

namespace {

const char* reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 413: return "Request Entity Too Large";
        case 422: return "Unprocessable Entity";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

std::string head(int status, const std::vector<std::pair<std::string, std::string>>& headers) {
    std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
    for (const auto& [k, v] : headers) h += k + ": " + v + "\r\n";
    return h;
}

DoubleRequest convert(http::request<http::string_body>& r) {
    DoubleRequest d;
    d.method = std::string(r.method_string());
    d.target = std::string(r.target());
    const auto q = d.target.find('?');
    // '+' is a space only in queries: decode the path without that rule.
    std::string raw_path = d.target.substr(0, q);
    for (size_t i = 0; i < raw_path.size(); ++i)
        if (raw_path[i] == '+') raw_path.replace(i, 1, "%2B");
    d.path = percent_decode(raw_path);
    if (q != std::string::npos) {
        std::string_view rest(d.target);
        rest.remove_prefix(q + 1);
        while (!rest.empty()) {
            auto amp = rest.find('&');
            std::string_view part = rest.substr(0, amp);
            auto eq = part.find('=');
            if (!part.empty())
                d.query[percent_decode(part.substr(0, eq))] = eq == std::string_view::npos ? "" : percent_decode(part.substr(eq + 1));
            if (amp == std::string_view::npos) break;
            rest.remove_prefix(amp + 1);
        }
    }
    for (const auto& f : r) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        d.headers[name] = std::string(f.value());
    }
    d.body = std::move(r.body());
    return d;
}

}  // namespace

struct HttpDouble::Impl {
    Handler handler;
    std::function<void()> on_stop;
    size_t body_limit;
    HttpDouble* self;

    asio::io_context io;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::thread accept_thread;
    std::atomic<bool> stopping{false};
    mutable std::mutex mu;
    std::condition_variable cv;  // stall changes and stops
    bool stalled = false;
    struct Conn {
        tcp::socket socket;
        std::thread thread;
        std::atomic<bool> done{false};
        explicit Conn(tcp::socket s) : socket(std::move(s)) {}
    };
    std::list<std::unique_ptr<Conn>> conns;

    class Reply final : public DoubleReply {
    public:
        Reply(Impl& impl, tcp::socket& s) : impl_(impl), s_(s) {}
        void send(const DoubleResponse& r) override {
            auto headers = r.headers;
            headers.emplace_back("Content-Length", std::to_string(r.body.size()));
            std::string out = head(r.status, headers) + "\r\n" + r.body;
            boost::system::error_code ec;
            asio::write(s_, asio::buffer(out), ec);
            ok_ = !ec;
            sent_ = true;
        }
        void begin(int status, const std::vector<std::pair<std::string, std::string>>& headers) override {
            auto h = headers;
            h.emplace_back("Transfer-Encoding", "chunked");
            std::string out = head(status, h) + "\r\n";
            boost::system::error_code ec;
            asio::write(s_, asio::buffer(out), ec);
            ok_ = !ec;
            sent_ = true;
            streaming_ = true;
        }
        bool write(std::string_view chunk) override {
            if (!ok_ || impl_.stopping) return false;
            if (chunk.empty()) return true;
            char size[32];
            int n = std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
            std::string out(size, static_cast<size_t>(n));
            out.append(chunk);
            out += "\r\n";
            boost::system::error_code ec;
            asio::write(s_, asio::buffer(out), ec);
            ok_ = !ec;
            return ok_;
        }
        bool stopping() const override { return impl_.stopping.load(); }
        void finish() {
            if (streaming_ && ok_) {
                boost::system::error_code ec;
                asio::write(s_, asio::buffer(std::string_view("0\r\n\r\n")), ec);
                ok_ = !ec;
            }
        }
        bool sent() const { return sent_; }
        bool ok() const { return ok_; }

    private:
        Impl& impl_;
        tcp::socket& s_;
        bool ok_ = true, sent_ = false, streaming_ = false;
    };

    void serve(Conn* c) {
        boost::beast::flat_buffer buffer;
        while (!stopping) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(body_limit);
            boost::system::error_code ec;
            http::read(c->socket, buffer, parser, ec);
            if (ec == http::error::body_limit) {
                std::string out = head(413, {{"Content-Length", "0"}, {"Connection", "close"}}) + "\r\n";
                asio::write(c->socket, asio::buffer(out), ec);
                break;
            }
            if (ec) break;
            auto req = parser.release();
            const bool keep_alive = req.keep_alive();
            {  // a stalled server reads requests and never answers them
                std::unique_lock lk(mu);
                cv.wait(lk, [&] { return !stalled || stopping; });
            }
            if (stopping) break;
            DoubleRequest d = convert(req);
            ++self->requests_;
            Reply reply(*this, c->socket);
            try {
                handler(d, reply);
            } catch (const std::exception& e) {
                if (!reply.sent()) reply.send({500, {{"Content-Type", "text/plain"}}, std::string("double: ") + e.what()});
            }
            if (stopping) break;
            if (!reply.sent()) reply.send({500, {}, "double: the handler sent nothing"});
            reply.finish();
            if (!reply.ok() || !keep_alive) break;
        }
        boost::system::error_code ignored;
        c->socket.shutdown(tcp::socket::shutdown_both, ignored);
        c->done = true;
    }

    void reap_finished() {  // under mu
        for (auto it = conns.begin(); it != conns.end();) {
            if ((*it)->done) {
                (*it)->thread.join();
                it = conns.erase(it);
            } else {
                ++it;
            }
        }
    }
};

HttpDouble::HttpDouble(Handler handler, std::function<void()> on_stop, size_t body_limit) : impl_(std::make_unique<Impl>()) {
    impl_->handler = std::move(handler);
    impl_->on_stop = std::move(on_stop);
    impl_->body_limit = body_limit;
    impl_->self = this;
    start();
}

HttpDouble::~HttpDouble() { stop(); }

bool HttpDouble::running() const { return impl_->acceptor != nullptr; }

void HttpDouble::start() {
    auto& I = *impl_;
    if (I.acceptor) return;
    I.stopping = false;
    I.acceptor = std::make_unique<tcp::acceptor>(I.io);
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
    I.acceptor->open(ep.protocol());
    I.acceptor->set_option(tcp::acceptor::reuse_address(true));
    I.acceptor->bind(ep);
    I.acceptor->listen();
    port_ = I.acceptor->local_endpoint().port();
    I.accept_thread = std::thread([&I] {
        while (true) {
            boost::system::error_code ec;
            tcp::socket s(I.io);
            I.acceptor->accept(s, ec);
            if (ec || I.stopping) break;
            s.set_option(tcp::no_delay(true), ec);
            std::lock_guard lk(I.mu);
            I.reap_finished();
            auto c = std::make_unique<Impl::Conn>(std::move(s));
            Impl::Conn* raw = c.get();
            I.conns.push_back(std::move(c));
            raw->thread = std::thread([&I, raw] { I.serve(raw); });
        }
    });
}

void HttpDouble::stop() {
    auto& I = *impl_;
    if (!I.acceptor) return;
    {
        std::lock_guard lk(I.mu);
        I.stopping = true;
    }
    I.cv.notify_all();
    if (I.on_stop) I.on_stop();
    ::shutdown(I.acceptor->native_handle(), SHUT_RDWR);  // wakes the blocked accept()
    I.accept_thread.join();
    I.acceptor.reset();
    std::list<std::unique_ptr<Impl::Conn>> conns;
    {
        std::lock_guard lk(I.mu);
        conns.swap(I.conns);
        for (auto& c : conns) ::shutdown(c->socket.native_handle(), SHUT_RDWR);  // wakes blocked reads
    }
    for (auto& c : conns) c->thread.join();
}

void HttpDouble::stall(bool on) {
    {
        std::lock_guard lk(impl_->mu);
        impl_->stalled = on;
    }
    impl_->cv.notify_all();
}

}  // namespace herd::test

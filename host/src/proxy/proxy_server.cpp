#include "proxy/proxy_server.hpp"

#include "util/host_port.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <list>
#include <set>
#include <thread>
#include <unordered_map>

namespace herd::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr size_t kRelayChunk = 64 * 1024;
constexpr size_t kMaxIdlePerBackend = 64;

// An idle keep-alive connection to a backend, with whatever it already sent past the last response.
struct Upstream {
    explicit Upstream(asio::any_io_executor ex) : stream(ex) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
};

// Hop-by-hop headers (RFC 9110 §7.6.1) are for one connection only and never forwarded.
template <class Fields>
void drop_hop_by_hop(Fields& f) {
    std::vector<std::string> listed;
    for (auto part : http::token_list(f[http::field::connection])) listed.emplace_back(part);
    for (const auto& name : listed) f.erase(name);
    for (auto h : {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
                   http::field::proxy_authenticate, http::field::proxy_authorization, http::field::te,
                   http::field::trailer, http::field::upgrade})
        f.erase(h);
}

std::string api_error(const std::string& type, const std::string& message) {
    std::string escaped;
    for (char c : message) {
        if (c == '"' || c == '\\') escaped += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
    }
    return R"({"status":"error","errorType":")" + type + R"(","error":")" + escaped + "\"}\n";
}

}  // namespace

// One I/O thread: its listener, its sessions and its upstream pool.
struct Worker {
    Worker(std::shared_ptr<RouteContext> c) : ctx(std::move(c)), io(1), acceptor(io) {}

    std::shared_ptr<RouteContext> ctx;
    asio::io_context io;
    tcp::acceptor acceptor;
    std::thread thread;
    bool stopping = false;
    std::set<beast::tcp_stream*> idle_clients;  // sessions waiting for a request

    std::unordered_map<std::string, std::vector<std::unique_ptr<Upstream>>> pool;  // backend id -> idle
    std::shared_ptr<const Selection> selection;
    uint64_t selection_version = 0;

    // Scratch for choosing: reused so the hot path does not allocate.
    std::vector<Backend*> candidates;
    std::vector<const herd_backend*> candidate_abi;

    // The latest selection. Callers hold the pointer for as long as they use its backends: another
    // session on this thread may move `selection` on while this one waits for a backend.
    std::shared_ptr<const Selection> current_selection() {
        uint64_t v = ctx->selection->version();
        if (v != selection_version || !selection) {
            selection = ctx->selection->get();
            selection_version = v;
        }
        return selection;
    }

    std::unique_ptr<Upstream> take(const Backend& b) {
        auto it = pool.find(b.id);
        if (it == pool.end() || it->second.empty()) return nullptr;
        auto u = std::move(it->second.back());
        it->second.pop_back();
        return u;
    }
    void give_back(const Backend& b, std::unique_ptr<Upstream> u) {
        auto& idle = pool[b.id];
        if (idle.size() < kMaxIdlePerBackend && !stopping) idle.push_back(std::move(u));
    }

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> session(tcp::socket socket);
};

namespace {

// What a session knows of its current request, for plugins and for retries.
struct Exchange {
    http::request<http::string_body> req;  // as the backend gets it
    http::request_header<> original;         // as the client sent it; what plugins see
    std::vector<herd_header> headers;
    herd_request abi{};
    std::vector<std::pair<std::string, std::string>> extra_response_headers;
    herd_header_sink header_sink{};
};

enum class Outcome {
    done,          // the response reached the client
    retry,         // nothing reached the client; another backend may try
    retry_fresh,   // a reused connection was stale; try the same backend on a new one
    client_gone,   // the client disappeared or the relay broke after bytes were sent
};

struct Failure {
    std::string reason;  // connect, timeout, reset, status
    int status = 0;      // the backend's 502/503/504, when that was it
};

}  // namespace

asio::awaitable<void> Worker::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(nothrow);
        if (ec == asio::error::operation_aborted || stopping) co_return;
        if (ec) {
            spdlog::warn("proxy {}: accept failed: {}", ctx->proxy_name, ec.message());
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        asio::co_spawn(io, session(std::move(socket)), asio::detached);
    }
}

namespace {

// Chooses a backend among the eligible ones not yet tried and not ejected (ejection is ignored when
// it would leave nothing): affinity first, in configured order, then the strategy's pick.
Backend* choose(Worker& w, const Selection& sel, const std::vector<Backend*>& tried, Exchange& x) {
    const int64_t now = steady_now_ns();
    for (int pass = 0; pass < 2; ++pass) {
        w.candidates.clear();
        w.candidate_abi.clear();
        for (const auto& b : sel.eligible) {
            if (std::find(tried.begin(), tried.end(), b.get()) != tried.end()) continue;
            if (pass == 0 && b->ejected(now)) continue;
            w.candidates.push_back(b.get());
            w.candidate_abi.push_back(&b->abi);
        }
        if (!w.candidates.empty()) break;
    }
    const size_t n = w.candidates.size();
    if (n == 0) return nullptr;
    for (auto& a : w.ctx->affinity) {
        int64_t i = a.ops->lookup(a.handle, &x.abi, w.candidate_abi.data(), n);
        if (i != HERD_AFFINITY_NONE && static_cast<size_t>(i) < n) {
            a.hits->add(1);
            return w.candidates[static_cast<size_t>(i)];
        }
    }
    size_t i = n == 1 ? 0 : w.ctx->selector->pick(w.ctx->selector_handle, &x.abi, w.candidate_abi.data(), n);
    return w.candidates[i < n ? i : 0];
}

void note_failure(RouteContext& ctx, Backend& b, const Failure& f) {
    b.errors->add(1);
    b.failures_since_selection.fetch_add(1, std::memory_order_relaxed);
    const uint32_t n = b.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
    if (static_cast<int>(n) >= ctx.cfg.eject_after) {
        auto until = steady_now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(ctx.cfg.eject_duration).count();
        b.ejected_until_ns.store(until, std::memory_order_relaxed);
    }
    if (n == 1)  // the first failure of a streak; the rest are counted in herd_proxy_backend_errors_total
        spdlog::warn("proxy {}: backend {} failed ({}{}); selecting again", ctx.proxy_name, b.id, f.reason,
                     f.status ? " " + std::to_string(f.status) : "");
    ctx.reselect();
}

// Sends one request to one backend and relays the answer to the client.
// fresh: do not reuse a pooled connection (the previous one was found closed).
asio::awaitable<Outcome> forward(Worker& w, beast::tcp_stream& client, Backend& b, Exchange& x, bool last_attempt,
                                 bool& client_keep_alive, Failure& failure, bool fresh) {
    auto& cfg = w.ctx->cfg;
    auto start = std::chrono::steady_clock::now();
    auto ex = co_await asio::this_coro::executor;

    std::unique_ptr<Upstream> up = fresh ? nullptr : w.take(b);
    const bool reused = up != nullptr;
    if (!up) {
        up = std::make_unique<Upstream>(ex);
        tcp::endpoint ep;
        boost::system::error_code aec;
        ep = tcp::endpoint(asio::ip::make_address(b.host, aec), static_cast<uint16_t>(std::stoi(b.port)));
        if (aec) {  // a host name: resolve it (discovery usually gives addresses)
            tcp::resolver r(ex);
            auto [rec, results] = co_await r.async_resolve(b.host, b.port, nothrow);
            if (rec || results.empty()) {
                failure = {"resolve"};
                co_return Outcome::retry;
            }
            ep = *results.begin();
        }
        up->stream.expires_after(cfg.connect_timeout);
        auto [cec] = co_await up->stream.async_connect(ep, nothrow);
        if (cec) {
            failure = {cec == beast::error::timeout ? "connect timeout" : "connect"};
            co_return Outcome::retry;
        }
        boost::system::error_code ignored;
        up->stream.socket().set_option(tcp::no_delay(true), ignored);
    }

    x.req.set(http::field::host, b.address);
    up->stream.expires_after(cfg.response_timeout);
    auto [wec, wn] = co_await http::async_write(up->stream, x.req, nothrow);
    http::response_parser<http::buffer_body> p;
    p.body_limit(boost::none);
    if (x.req.method() == http::verb::head) p.skip(true);
    boost::system::error_code hec = wec;
    if (!hec) std::tie(hec, std::ignore) = co_await http::async_read_header(up->stream, up->buffer, p, nothrow);
    if (hec) {
        // A reused connection the backend had already closed: not the backend's fault.
        if (reused && hec != beast::error::timeout) {
            w.pool.erase(b.id);  // its siblings are likely closed too (the backend restarted)
            co_return Outcome::retry_fresh;
        }
        failure = {hec == beast::error::timeout ? "timeout" : "reset"};
        co_return Outcome::retry;
    }
    auto& res = p.get();
    const unsigned status = res.result_int();
    if ((status == 502 || status == 503 || status == 504) && !last_attempt) {
        failure = {"status", static_cast<int>(status)};
        co_return Outcome::retry;  // the connection is dropped with its unread body
    }

    // From here on bytes go to the client: no more retries.
    const bool upstream_keep_alive = res.keep_alive();
    drop_hop_by_hop(res);
    res.set("X-Herd-Backend", b.id);
    for (auto& [k, v] : x.extra_response_headers) res.insert(k, v);
    if (x.req.version() < 11) {
        res.chunked(false);  // an HTTP/1.0 client: the body ends with the connection
        client_keep_alive = false;
    }
    res.keep_alive(client_keep_alive);
    b.requests[std::min<unsigned>(status / 100, 5)]->add(1);
    if (status < 500) b.consecutive_failures.store(0, std::memory_order_relaxed);

    http::response_serializer<http::buffer_body> sr{res};
    client.expires_after(cfg.response_timeout);
    auto [hwec, hwn] = co_await http::async_write_header(client, sr, nothrow);
    if (hwec) co_return Outcome::client_gone;

    char buf[kRelayChunk];
    do {
        if (!p.is_done()) {
            res.body().data = buf;
            res.body().size = sizeof buf;
            up->stream.expires_after(cfg.response_timeout);
            auto [rec, rn] = co_await http::async_read(up->stream, up->buffer, p, nothrow);
            if (rec == http::error::need_buffer) rec = {};
            if (rec) {
                spdlog::warn("proxy {}: backend {} broke off a response ({}); the client's connection is closed",
                             w.ctx->proxy_name, b.id, rec.message());
                b.errors->add(1);
                co_return Outcome::client_gone;
            }
            res.body().size = sizeof buf - res.body().size;
            res.body().data = buf;
            res.body().more = !p.is_done();
        } else {
            res.body().data = nullptr;
            res.body().more = false;
        }
        client.expires_after(cfg.response_timeout);
        auto [cwec, cwn] = co_await http::async_write(client, sr, nothrow);
        if (cwec == http::error::need_buffer) cwec = {};
        if (cwec) co_return Outcome::client_gone;
    } while (!p.is_done() || !sr.is_done());

    b.latency->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (upstream_keep_alive) w.give_back(b, std::move(up));
    co_return Outcome::done;
}

// Waits (bounded) until a selection round that started after `round` has finished.
asio::awaitable<void> await_selection_round(Worker& w, uint64_t round) {
    auto deadline = std::chrono::steady_clock::now() + w.ctx->cfg.stats_timeout + std::chrono::milliseconds(500);
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (w.ctx->selection->rounds_finished() < round && std::chrono::steady_clock::now() < deadline) {
        t.expires_after(std::chrono::milliseconds(2));
        co_await t.async_wait(nothrow);
    }
}

asio::awaitable<bool> reply(beast::tcp_stream& client, unsigned version, bool keep_alive, http::status status,
                            const std::string& content_type, std::string body, const std::string& backend = "none") {
    http::response<http::string_body> res{status, version};
    res.set(http::field::server, "herd");
    res.set(http::field::content_type, content_type);
    res.set("X-Herd-Backend", backend);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    auto [ec, n] = co_await http::async_write(client, res, nothrow);
    co_return !ec && keep_alive;
}

}  // namespace

asio::awaitable<void> Worker::session(tcp::socket socket) {
    beast::tcp_stream client(std::move(socket));
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    const std::string peer = client.socket().remote_endpoint(ec).address().to_string();
    const auto& cfg = ctx->cfg;
    Exchange x;
    x.header_sink.header = {sizeof(herd_header_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR};
    x.header_sink.ctx = &x;
    x.header_sink.add = [](void* c, herd_str k, herd_str v) {
        static_cast<Exchange*>(c)->extra_response_headers.emplace_back(std::string(k.data, k.size),
                                                                        std::string(v.data, v.size));
    };
    std::vector<Backend*> tried;

    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(64 * 1024);
        parser.body_limit(cfg.max_request_body);
        client.expires_after(cfg.idle_timeout);
        idle_clients.insert(&client);
        auto [hec, hn] = co_await http::async_read_header(client, buffer, parser, nothrow);
        idle_clients.erase(&client);
        if (hec) {
            if (hec == http::error::header_limit)
                co_await reply(client, 11, false, http::status::request_header_fields_too_large, "application/json",
                               api_error("bad_data", "request headers too large"));
            co_return;
        }
        const unsigned version = parser.get().version();
        if (parser.content_length() && *parser.content_length() > cfg.max_request_body) {
            ctx->too_large->add(1);
            co_await reply(client, version, false, http::status::payload_too_large, "application/json",
                           api_error("bad_data", "request body over " + std::to_string(cfg.max_request_body) + " bytes"));
            co_return;
        }
        if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
            http::response<http::empty_body> cont{http::status::continue_, version};
            co_await http::async_write(client, cont, nothrow);
        }
        if (!parser.is_done()) {
            auto [bec, bn] = co_await http::async_read(client, buffer, parser, nothrow);
            if (bec == http::error::body_limit) {
                ctx->too_large->add(1);
                co_await reply(client, version, false, http::status::payload_too_large, "application/json",
                               api_error("bad_data", "request body over " + std::to_string(cfg.max_request_body) + " bytes"));
                co_return;
            }
            if (bec) co_return;
        }
        x.req = parser.release();
        bool keep_alive = x.req.keep_alive() && !stopping;

        // The proxy's own endpoints (mpp compatibility), before any prefix handling.
        if (ctx->local) {
            auto path = std::string(x.req.target().substr(0, x.req.target().find('?')));
            if (auto local = ctx->local(path)) {
                if (!co_await reply(client, version, keep_alive, static_cast<http::status>(local->status),
                                    local->content_type, std::move(local->body), "herd"))
                    co_return;
                continue;
            }
        }
        if (!cfg.path_prefix.empty()) {
            std::string_view t = x.req.target();
            const std::string& pre = cfg.path_prefix;
            if (t.substr(0, pre.size()) != pre || (t.size() > pre.size() && t[pre.size()] != '/' && t[pre.size()] != '?')) {
                if (!co_await reply(client, version, keep_alive, http::status::not_found, "application/json",
                                    api_error("not_found", "this proxy serves paths under " + pre)))
                    co_return;
                continue;
            }
            std::string rest(t.substr(pre.size()));
            if (rest.empty() || rest.front() == '?') rest.insert(0, "/");
            x.req.target(rest);
        }

        // What plugins see: the request as the client sent it (after the prefix).
        x.original = x.req.base();
        x.headers.clear();
        for (const auto& f : x.original)
            x.headers.push_back({{f.name_string().data(), f.name_string().size()}, {f.value().data(), f.value().size()}});
        x.abi.header = {sizeof(herd_request), HERD_ABI_MAJOR, HERD_ABI_MINOR};
        x.abi.method = {x.original.method_string().data(), x.original.method_string().size()};
        x.abi.target = {x.original.target().data(), x.original.target().size()};
        x.abi.peer_address = {peer.data(), peer.size()};
        x.abi.headers = x.headers.data();
        x.abi.header_count = x.headers.size();

        // What the backend gets: one connection's headers dropped, the forwarding chain extended.
        drop_hop_by_hop(x.req);
        std::string xff(x.req["X-Forwarded-For"]);
        x.req.set("X-Forwarded-For", xff.empty() ? peer : xff + ", " + peer);
        if (x.req["X-Forwarded-Proto"].empty()) x.req.set("X-Forwarded-Proto", "http");
        x.req.version(11);
        x.req.keep_alive(true);
        x.req.prepare_payload();

        tried.clear();
        Backend* chosen = nullptr;
        Outcome outcome = Outcome::retry;
        Failure failure;
        std::shared_ptr<const Selection> held;  // keeps the chosen backend alive during the exchange
        std::string last_failed;
        uint64_t reselect_round = 0;  // the round the last failure asked for
        for (int attempt = 0; attempt <= cfg.retries; ++attempt) {
            held = current_selection();
            chosen = choose(*this, *held, tried, x);
            if (!chosen && attempt > 0) {
                // Nothing else is eligible: retry after the re-selection the failure asked for.
                co_await await_selection_round(*this, reselect_round);
                held = current_selection();
                chosen = choose(*this, *held, tried, x);
            }
            if (!chosen) break;
            x.extra_response_headers.clear();
            for (auto& a : ctx->affinity) a.ops->remember(a.handle, &x.abi, &chosen->abi, &x.header_sink);
            const bool last = attempt == cfg.retries;
            outcome = co_await forward(*this, client, *chosen, x, last, keep_alive, failure, false);
            if (outcome == Outcome::retry_fresh)  // a pooled connection the backend had closed: not its fault
                outcome = co_await forward(*this, client, *chosen, x, last, keep_alive, failure, true);
            if (outcome != Outcome::retry) break;
            chosen->requests[0]->add(1);
            reselect_round = ctx->selection->rounds_started() + 1;
            note_failure(*ctx, *chosen, failure);
            last_failed = chosen->id;
            tried.push_back(chosen);  // compared only: it may not outlive `held`
            if (attempt < cfg.retries) chosen->retries->add(1);
        }

        if (outcome == Outcome::client_gone) co_return;
        if (outcome == Outcome::done) {
            if (!keep_alive) co_return;
            continue;
        }
        // Nothing reached the client and nothing more can be tried.
        if (!chosen && tried.empty()) {
            ctx->no_backend->add(1);
            if (!co_await reply(client, version, keep_alive, http::status::service_unavailable, "application/json",
                                api_error("unavailable", "no backend available: none qualifies yet or all are down")))
                co_return;
            continue;
        }
        const bool timeout = failure.reason.find("timeout") != std::string::npos;
        if (!co_await reply(client, version, keep_alive, timeout ? http::status::gateway_timeout : http::status::bad_gateway,
                            "application/json",
                            api_error(timeout ? "timeout" : "unavailable",
                                      "every backend tried failed (last: " + failure.reason + ")"),
                            last_failed))
            co_return;
    }
}

struct ProxyServer::Impl {
    std::shared_ptr<RouteContext> ctx;
    std::vector<std::unique_ptr<Worker>> workers;
    uint16_t port = 0;
};

ProxyServer::ProxyServer(std::shared_ptr<RouteContext> ctx) : impl_(std::make_unique<Impl>()) {
    impl_->ctx = std::move(ctx);
}

ProxyServer::~ProxyServer() { stop(); }

void ProxyServer::start() {
    auto& cfg = impl_->ctx->cfg;
    auto fail = [&](const std::string& why) {
        throw std::runtime_error("proxy " + impl_->ctx->proxy_name + ": cannot listen on " + cfg.listen + ": " + why);
    };
    auto [host, port] = util::split_host_port(cfg.listen);
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) {
        asio::io_context tmp;
        tcp::resolver r(tmp);
        auto res = r.resolve(host, std::to_string(port), ec);
        if (ec || res.empty()) fail("cannot resolve \"" + host + "\"");
        addr = res.begin()->endpoint().address();
    }
    int threads = cfg.threads > 0 ? cfg.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    tcp::endpoint ep(addr, port);
    for (int i = 0; i < threads; ++i) {
        auto w = std::make_unique<Worker>(impl_->ctx);
        w->acceptor.open(ep.protocol(), ec);
        if (ec) fail(ec.message());
        w->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        // Every thread listens on the same port; the kernel spreads connections over them, and a
        // reloaded proxy can bind before the old one lets go.
        int one = 1;
        ::setsockopt(w->acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        w->acceptor.bind(ep.port() == 0 && i > 0 ? tcp::endpoint(addr, impl_->port) : ep, ec);
        if (ec) fail(ec.message());
        w->acceptor.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) fail(ec.message());
        if (i == 0) impl_->port = w->acceptor.local_endpoint().port();
        impl_->workers.push_back(std::move(w));
    }
    for (auto& w : impl_->workers) {
        asio::co_spawn(w->io, w->accept_loop(), asio::detached);
        w->thread = std::thread([wp = w.get()] { wp->io.run(); });
    }
}

void ProxyServer::stop() {
    for (auto& w : impl_->workers) {
        asio::post(w->io, [wp = w.get()] {
            wp->stopping = true;
            boost::system::error_code ec;
            wp->acceptor.close(ec);
            wp->pool.clear();
            for (auto* c : wp->idle_clients) c->socket().shutdown(tcp::socket::shutdown_both, ec);
        });
    }
    for (auto& w : impl_->workers)
        if (w->thread.joinable()) w->thread.join();
    impl_->workers.clear();
}

uint16_t ProxyServer::port() const { return impl_->port; }

}  // namespace herd::proxy

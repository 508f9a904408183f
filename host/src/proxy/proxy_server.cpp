#include "proxy/proxy_server.hpp"

#include "http/request_rules.hpp"
#include "proxy/wire.hpp"
#include "util/host_port.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/intrusive/list.hpp>
#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <list>
#include <span>
#include <thread>
#include <unordered_map>

namespace herd::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Concrete executor types throughout: the type-erased any_io_executor costs on every operation.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
template <class T>
using Task = asio::awaitable<T, Executor>;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable_t<Executor>{});

namespace {

constexpr size_t kRelayChunk = 64 * 1024;
constexpr size_t kMaxIdlePerBackend = 64;
constexpr auto kSweep = std::chrono::milliseconds(100);
// On stop, an idle keep-alive connection may be about to send its next request: it gets this long.
constexpr auto kStopGrace = std::chrono::seconds(1);
// After accept failed for lack of file descriptors or memory.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

int64_t deadline_after(std::chrono::milliseconds d) {
    return steady_now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// A connection's deadline. Instead of arming a timer around every read and write, a connection
// stores when it must be done and a sweep on its thread (every 100 ms) cancels what is late —
// how nginx and HAProxy keep timeouts cheap. Deadlines link themselves into their thread's list
// (intrusively: no allocation) and unlink when destroyed.
using DeadlineHook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
struct Deadline : DeadlineHook {
    Socket* socket = nullptr;
    int64_t at = INT64_MAX;  // steady ns
    bool fired = false;
    bool idle = false;  // a client connection waiting for its next request (closed on stop)
    // A client connection whose request waits for the backend's answer: the sweep looks whether
    // the client went away meanwhile and, if so, cancels `waiting_upstream` (the backend stops
    // working on a query nobody waits for). Costs nothing per request; a look per sweep per
    // request still waiting after one sweep.
    Socket* waiting_upstream = nullptr;
    bool client_gone = false;
    // A sweep that fired while nothing was pending cancelled nothing: forget it.
    void set(std::chrono::milliseconds d) {
        at = deadline_after(d);
        fired = false;
    }
    void clear() { at = INT64_MAX; }
};

// What a connection has to read right now, without consuming it (one recv, MSG_PEEK): nothing;
// bytes; or its end (end-of-stream or an error). Used on clients whose request waits (did they
// leave? pipelined bytes mean they are still there) and on idle pooled upstream connections
// before reuse (bytes there would be read as the next client's answer).
enum class Pending { nothing, bytes, closed };
Pending peek(Socket& s) {
    char c;
    const ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return Pending::bytes;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Pending::nothing;
    return Pending::closed;
}

// An idle keep-alive connection to a backend, with whatever it already sent past the last response.
struct Upstream {
    explicit Upstream(Executor ex) : socket(ex) { deadline.socket = &socket; }
    Socket socket;
    beast::flat_buffer buffer;
    Deadline deadline;
};

std::string api_error(const std::string& type, const std::string& message) {
    std::string escaped;
    for (char c : message) {
        if (c == '"' || c == '\\') escaped += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
    }
    return R"({"status":"error","errorType":")" + type + R"(","error":")" + escaped + "\"}\n";
}

}  // namespace

// One I/O thread: its listener, its sessions, its upstream pool and its deadline sweep.
struct Worker {
    explicit Worker(std::shared_ptr<RouteContext> c) : ctx(std::move(c)), io(1), acceptor(io.get_executor()) {}

    std::shared_ptr<RouteContext> ctx;
    asio::io_context io;
    Acceptor acceptor;
    std::thread thread;
    bool stopping = false;
    boost::intrusive::list<Deadline, boost::intrusive::constant_time_size<false>> deadlines;  // every live connection

    std::unordered_map<uint64_t, std::vector<std::unique_ptr<Upstream>>> pool;  // Backend::serial -> idle
    std::shared_ptr<const Selection> selection;
    uint64_t selection_version = 0;

    // Scratch for choosing: reused so the hot path does not allocate (choose() never suspends).
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
        auto it = pool.find(b.serial);
        if (it == pool.end() || it->second.empty()) return nullptr;
        auto u = std::move(it->second.back());
        it->second.pop_back();
        return u;
    }
    void give_back(const Backend& b, std::unique_ptr<Upstream> u) {
        auto& idle = pool[b.serial];
        // Idle ones are not watched: one the backend closed meanwhile is found stale on reuse.
        if (idle.size() < kMaxIdlePerBackend && !stopping) idle.push_back(std::move(u));
    }

    Task<void> sweep() {
        asio::steady_timer t(io.get_executor());
        while (!stopping || !deadlines.empty()) {
            t.expires_after(kSweep);
            co_await t.async_wait(nothrow);
            // An idle thread must not keep an old selection (and the departed backends in it) alive.
            if (selection && ctx->selection->version() != selection_version) selection.reset();
            const int64_t now = steady_now_ns();
            for (Deadline& d : deadlines) {
                if (d.waiting_upstream && !d.client_gone && peek(*d.socket) == Pending::closed) {
                    d.client_gone = true;
                    boost::system::error_code ec;
                    d.waiting_upstream->cancel(ec);
                }
                if (d.at > now || d.fired) continue;
                d.fired = true;
                boost::system::error_code ec;
                d.socket->cancel(ec);
            }
        }
    }

    Task<void> accept_loop();
    Task<void> session(Socket socket);
};

namespace {

// What a session knows of its current request, for plugins and for retries.
struct Exchange {
    wire::Request req;  // as the client sent it (after the prefix); plugins see it
    std::string_view peer;
    std::vector<herd_header> headers;
    herd_request abi{};
    std::string extra_response_headers;  // "Name: value\r\n" lines from affinity modules
    herd_header_sink header_sink{};
    // Reused by every request of the session (never shared: a write may be suspended mid-way).
    std::string head;  // the request head, then the response head
    std::string chunk_line;
    wire::ConnectionTokens tokens;  // scratch for hop-by-hop handling
};

enum class Outcome {
    done,          // the response reached the client
    retry,         // nothing reached the client; another backend may try
    retry_fresh,   // a reused connection was stale; try the same backend on a new one
    client_gone,   // the client disappeared or the relay broke after bytes were sent
};

enum class FailureKind { connect, reset, timeout, status };

// A backend's answer kept for the client when it is the last thing any backend said (issue:
// "every backend tried failed" used to replace Prometheus' own 503 errorType "timeout").
struct KeptAnswer {
    unsigned status = 0;
    std::string content_type;
    std::string body;
    std::string backend;
};

struct Failure {
    FailureKind kind = FailureKind::reset;
    std::string reason;  // "connect", "timeout", "reset", "status 502", "malformed response: ..."
    int status = 0;      // the backend's status, when that was it
};

bool retried(const config::RetryOn& on, const Failure& f) {
    switch (f.kind) {
        case FailureKind::connect: return on.connect;
        case FailureKind::reset: return on.reset;
        case FailureKind::timeout: return on.timeout;
        case FailureKind::status: return on.status(f.status);
    }
    return false;
}

// The affinity modules decide first, in configured order, then the strategy's pick.
Backend* pick_among_candidates(Worker& w, Exchange& x) {
    const size_t n = w.candidates.size();
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

// Chooses a backend not yet tried: an eligible one that is not ejected; else the best ready
// fallback that is not ejected (single-most-data and first-ready choose one backend, and a replica
// can answer /-/ready while its queries fail: the retry must reach another); else, ejected or not,
// an eligible one, then a fallback.
Backend* choose(Worker& w, const Selection& sel, const std::vector<Backend*>& tried, Exchange& x) {
    const int64_t now = steady_now_ns();
    auto gather = [&](const std::vector<std::shared_ptr<Backend>>& from, bool skip_ejected) {
        w.candidates.clear();
        w.candidate_abi.clear();
        for (const auto& b : from) {
            if (!tried.empty() && std::find(tried.begin(), tried.end(), b.get()) != tried.end()) continue;
            if (skip_ejected && b->ejected(now)) continue;
            w.candidates.push_back(b.get());
            w.candidate_abi.push_back(&b->abi);
        }
        return !w.candidates.empty();
    };
    if (gather(sel.eligible, true)) return pick_among_candidates(w, x);
    if (gather(sel.fallback, true)) return w.candidates.front();
    if (gather(sel.eligible, false)) return pick_among_candidates(w, x);
    if (gather(sel.fallback, false)) return w.candidates.front();
    return nullptr;
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
        spdlog::warn("proxy {}: backend {} failed ({}); selecting again", ctx.proxy_name, b.id, f.reason);
    ctx.reselect();
}

// A backend that broke HTTP's framing (an answer nobody asked for, bytes after a complete answer,
// a 101 nobody asked for): its connection is closed, never pooled, so no later client can receive
// what it sent. Counted per backend, logged at most once per 10 s per proxy.
void note_protocol_error(RouteContext& ctx, Backend& b, const std::string& what) {
    b.protocol_errors->add(1);
    uint64_t held = 0;
    if (ctx.protocol_log.allow(&held))
        spdlog::warn("proxy {}: backend {} broke HTTP framing ({}); its connection is closed{}", ctx.proxy_name, b.id,
                     what, held ? " (" + std::to_string(held) + " more such since the last report)" : "");
}

bool is_parse_error(const boost::system::error_code& ec) {
    return &ec.category() == &http::make_error_code(http::error::bad_version).category() &&
           ec != http::error::end_of_stream && ec != http::error::partial_message && ec != http::error::need_buffer;
}

// Names what went wrong with a backend's answer.
Failure read_failure(const boost::system::error_code& ec, const Deadline& d, uint64_t header_limit) {
    if (d.fired) return {FailureKind::timeout, "timeout"};
    if (ec == http::error::header_limit)
        return {FailureKind::reset, "response head over " + std::to_string(header_limit) + " bytes (max_response_header)"};
    if (ec == http::error::end_of_stream) return {FailureKind::reset, "closed before answering"};
    if (ec == http::error::partial_message) return {FailureKind::reset, "broke off the answer"};
    if (is_parse_error(ec)) return {FailureKind::reset, "malformed response: " + ec.message()};
    if (ec == asio::error::operation_aborted) return {FailureKind::reset, "cancelled"};
    return {FailureKind::reset, "reset"};
}


using ResponseParser = http::response_parser<http::buffer_body, PoolAllocator<char>>;

// Sends one request to one backend and relays the answer to the client.
// fresh: do not reuse a pooled connection (the previous one was found closed).
// last_attempt: a retryable status is relayed, not retried (nothing else can be tried).
Task<Outcome> forward(Worker& w, Socket& client, Deadline& client_deadline, Backend& b, Exchange& x,
                      bool last_attempt, bool& client_keep_alive, Failure& failure, KeptAnswer& kept, bool fresh) {
    auto& ctx = *w.ctx;
    auto& cfg = ctx.cfg;
    auto start = std::chrono::steady_clock::now();

    std::unique_ptr<Upstream> up;
    while (!fresh && (up = w.take(b))) {
        const auto state = peek(up->socket);
        if (state == Pending::nothing) break;
        if (state == Pending::bytes) note_protocol_error(ctx, b, "bytes sent on an idle connection");
        up.reset();
    }
    const bool reused = up != nullptr;
    if (!up) {
        up = std::make_unique<Upstream>(w.io.get_executor());
        w.deadlines.push_back(up->deadline);
        boost::system::error_code aec;
        tcp::endpoint ep(asio::ip::make_address(b.host, aec), static_cast<uint16_t>(std::stoi(b.port)));
        if (aec) {  // a host name: resolve it (discovery usually gives addresses)
            asio::ip::basic_resolver<tcp, Executor> r(w.io.get_executor());
            auto [rec, results] = co_await r.async_resolve(b.host, b.port, nothrow);
            if (rec || results.empty()) {
                failure = {FailureKind::connect, "resolve"};
                co_return Outcome::retry;
            }
            ep = *results.begin();
        }
        up->deadline.set(cfg.connect_timeout);
        auto [cec] = co_await up->socket.async_connect(ep, nothrow);
        if (cec) {
            failure = {FailureKind::connect, up->deadline.fired ? "connect timeout" : "connect"};
            co_return Outcome::retry;
        }
        boost::system::error_code ignored;
        up->socket.set_option(tcp::no_delay(true), ignored);
    }

    // The request: its head as the backend gets it, then the buffered body, in one write.
    wire::request_head(x.head, x.req, b.address, x.peer, x.tokens);
    up->deadline.set(cfg.response_timeout);
    std::array<asio::const_buffer, 2> request{asio::buffer(x.head), asio::buffer(x.req.body())};
    auto [wec, wn] = co_await asio::async_write(up->socket, request, nothrow);

    // The answer's head; interim (1xx) answers before it are passed on to HTTP/1.1 clients
    // (RFC 9110 §15.2) — except 100 Continue, which herd answered itself — and never taken for
    // the final answer: the real one is read right after them on this connection.
    client_deadline.client_gone = false;
    std::optional<ResponseParser> p;
    bool committed = false;  // bytes reached the client: no retry from here on
    boost::system::error_code hec = wec;
    for (int interim = 0; !hec; ++interim) {
        p.emplace();
        p->body_limit(boost::none);
        p->header_limit(static_cast<std::uint32_t>(std::min<uint64_t>(cfg.max_response_header, UINT32_MAX)));
        if (x.req.method() == http::verb::head) p->skip(true);
        client_deadline.waiting_upstream = &up->socket;  // the sweep watches whether the client leaves
        std::tie(hec, std::ignore) = co_await http::async_read_header(up->socket, up->buffer, *p, nothrow);
        client_deadline.waiting_upstream = nullptr;
        if (hec) break;
        const unsigned s = p->get().result_int();
        if (s >= 200 || s < 100) break;
        if (s == 101 || interim >= 16) {
            const std::string what = s == 101 ? "101 Switching Protocols to a request without Upgrade"
                                              : "more than 16 interim answers";
            note_protocol_error(ctx, b, what);
            failure = {FailureKind::reset, "malformed response: " + what};
            co_return committed ? Outcome::client_gone : Outcome::retry;
        }
        if (s != 100 && x.req.version() >= 11) {
            wire::interim_head(x.head, p->get(), x.tokens);
            client_deadline.set(cfg.response_timeout);
            auto [iec, in] = co_await asio::async_write(client, asio::buffer(x.head), nothrow);
            if (iec) co_return Outcome::client_gone;
            committed = true;
        }
    }
    client_deadline.waiting_upstream = nullptr;
    if (client_deadline.client_gone) {
        ctx.abandoned->add(1);
        co_return Outcome::client_gone;  // the upstream connection closes with `up`
    }
    if (hec) {
        // A reused connection the backend had already closed: not the backend's fault.
        if (reused && !committed && !up->deadline.fired && !is_parse_error(hec) && hec != http::error::header_limit) {
            w.pool.erase(b.serial);  // its siblings are likely closed too (the backend restarted)
            co_return Outcome::retry_fresh;
        }
        failure = read_failure(hec, up->deadline, cfg.max_response_header);
        if (is_parse_error(hec)) note_protocol_error(ctx, b, failure.reason);
        co_return committed ? Outcome::client_gone : Outcome::retry;
    }
    auto& res = p->get();
    const unsigned status = res.result_int();
    const bool retry_status = !committed && !last_attempt && cfg.retry_on.status(static_cast<int>(status));

    // Read as much of the body as fits before writing anything: a small answer then leaves in one
    // write with its head, and a backend that breaks off before this point can still be retried.
    char buf[kRelayChunk];
    size_t have = 0;
    if (!p->is_done()) {
        res.body().data = buf;
        res.body().size = sizeof buf;
        while (!p->is_done() && res.body().size > 0) {
            auto [rec, rn] = co_await http::async_read(up->socket, up->buffer, *p, nothrow);
            if (rec == http::error::need_buffer) break;
            if (rec) {
                failure = read_failure(rec, up->deadline, cfg.max_response_header);
                co_return committed ? Outcome::client_gone : Outcome::retry;
            }
        }
        have = sizeof buf - res.body().size;
    }
    if (retry_status) {
        failure = {FailureKind::status, "status " + std::to_string(status), static_cast<int>(status)};
        if (p->is_done()) {  // small enough to keep: the client gets it if nothing better comes
            kept.status = status;
            kept.content_type = std::string(res[http::field::content_type]);
            kept.body.assign(buf, have);
            kept.backend = b.id;
        }
        co_return Outcome::retry;  // the connection is dropped with anything unread
    }

    // From here on bytes go to the client: no more retries.
    const bool upstream_keep_alive = res.keep_alive();
    const bool bodyless = x.req.method() == http::verb::head || status == 204 || status == 304;
    const bool http10 = x.req.version() < 11;
    wire::Framing framing;
    std::optional<uint64_t> length;
    if (bodyless) {
        framing = wire::Framing::upstream;
    } else if (p->is_done()) {
        framing = wire::Framing::length;
        length = have;
    } else if (p->content_length()) {
        framing = wire::Framing::length;
        length = have + *p->content_length_remaining();
    } else {
        framing = http10 ? wire::Framing::close : wire::Framing::chunked;
    }
    if (http10 || framing == wire::Framing::close) client_keep_alive = false;
    b.requests[std::min<unsigned>(status / 100, 5)]->add(1);
    if (status < 500) b.consecutive_failures.store(0, std::memory_order_relaxed);
    wire::response_head(x.head, res, framing, length, client_keep_alive, b.id, x.extra_response_headers, x.tokens);

    const bool chunked = framing == wire::Framing::chunked;
    for (bool first = true;; first = false) {
        std::array<asio::const_buffer, 5> out;
        size_t n = 0;
        if (first) out[n++] = asio::buffer(x.head);
        if (have && chunked) {
            wire::chunk_size_line(x.chunk_line, have);
            out[n++] = asio::buffer(x.chunk_line);
        }
        if (have) out[n++] = asio::buffer(buf, have);
        if (chunked && have) out[n++] = asio::buffer("\r\n", 2);
        if (chunked && p->is_done()) out[n++] = asio::buffer("0\r\n\r\n", 5);
        client_deadline.set(cfg.response_timeout);
        auto [cwec, cwn] = co_await asio::async_write(client, std::span(out.data(), n), nothrow);
        if (cwec) co_return Outcome::client_gone;
        if (p->is_done()) break;
        // A large answer: relay the rest piece by piece as it arrives.
        res.body().data = buf;
        res.body().size = sizeof buf;
        up->deadline.set(cfg.response_timeout);
        auto [rec, rn] = co_await http::async_read(up->socket, up->buffer, *p, nothrow);
        if (rec == http::error::need_buffer) rec = {};
        if (rec) {
            spdlog::warn("proxy {}: backend {} broke off a response ({}); the client's connection is closed",
                         ctx.proxy_name, b.id, read_failure(rec, up->deadline, cfg.max_response_header).reason);
            b.errors->add(1);
            co_return Outcome::client_gone;
        }
        have = sizeof buf - res.body().size;
    }

    b.latency->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    // Back to the pool only when the answer was read to its end and nothing followed it: whatever
    // followed would be read as the next client's answer.
    if (up->buffer.size() != 0) {
        note_protocol_error(ctx, b, "bytes after a complete answer");
    } else if (upstream_keep_alive) {
        w.give_back(b, std::move(up));
    }
    co_return Outcome::done;
}

// Waits (bounded) until a selection round that started after `round` has finished.
Task<void> await_selection_round(Worker& w, uint64_t round) {
    auto deadline = std::chrono::steady_clock::now() + w.ctx->cfg.stats_timeout + std::chrono::milliseconds(500);
    asio::steady_timer t(w.io.get_executor());
    while (w.ctx->selection->rounds_finished() < round && std::chrono::steady_clock::now() < deadline) {
        t.expires_after(std::chrono::milliseconds(2));
        co_await t.async_wait(nothrow);
    }
}

Task<bool> reply(Socket& client, unsigned version, bool keep_alive, http::status status, const std::string& content_type,
                 std::string body, const std::string& backend = "none") {
    http::response<http::string_body> res{status, version < 10 || version > 11 ? 11u : version};
    res.set(http::field::server, "herd");
    res.set(http::field::content_type, content_type);
    res.set("X-Herd-Backend", backend);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    auto [ec, n] = co_await http::async_write(client, res, nothrow);
    co_return !ec && keep_alive;
}

// Closing right after an early answer (400, 413) would reset the connection while the client is
// still sending, and the client would never read the answer. Like nginx's lingering close:
// stop sending, read and discard what still comes for a bounded while, then close.
Task<void> linger_close(Socket& client, Deadline& deadline) {
    boost::system::error_code ec;
    client.shutdown(tcp::socket::shutdown_send, ec);
    deadline.set(std::chrono::seconds(5));
    static char sink[16384];
    size_t drained = 0;
    while (drained < (64u << 20)) {
        auto [rec, n] = co_await client.async_read_some(asio::buffer(sink), nothrow);
        if (rec) break;
        drained += n;
    }
}

// A request refused before it went anywhere: the answer, then a lingering close (RFC 9112: a
// server that cannot frame a request must close; a silent close tells the client nothing).
Task<void> refuse(RouteContext& ctx, Socket& client, Deadline& deadline, unsigned version, const http_rules::Rejection& r) {
    ctx.bad_requests->add(1);
    if (r.status == 413) ctx.too_large->add(1);
    const char* type = r.status == 413 || r.status == 431 ? "bad_data" : "bad_request";
    co_await reply(client, version, false, static_cast<http::status>(r.status), "application/json", api_error(type, r.reason));
    co_await linger_close(client, deadline);
}

}  // namespace

Task<void> Worker::accept_loop() {
    asio::steady_timer pause(io.get_executor());
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(nothrow);
        if (ec == asio::error::operation_aborted || stopping) co_return;
        if (ec) {
            ctx->accept_errors->add(1);
            uint64_t held = 0;
            const bool out_of_resources = ec == asio::error::no_descriptors || ec.value() == ENFILE ||
                                          ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
            if (ctx->accept_log.allow(&held))
                spdlog::warn("proxy {}: accept failed: {}{}{}", ctx->proxy_name, ec.message(),
                             held ? " (" + std::to_string(held) + " more failures since the last report)" : "",
                             out_of_resources ? "; pausing accepts for 100 ms, open connections are still served" : "");
            // Out of file descriptors or memory the listener stays readable and accept fails at
            // once, again and again: pause (as nginx does) so open connections keep being served.
            if (out_of_resources) {
                pause.expires_after(kAcceptPause);
                co_await pause.async_wait(nothrow);
                if (stopping) co_return;
            }
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        asio::co_spawn(io, session(std::move(socket)), asio::detached);
    }
}

Task<void> Worker::session(Socket client) {
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    const std::string peer = client.remote_endpoint(ec).address().to_string();
    const auto& cfg = ctx->cfg;
    const http_rules::RequestLimits limits{cfg.max_request_headers};
    Deadline deadline;
    deadline.socket = &client;
    deadlines.push_back(deadline);
    Exchange x;
    x.peer = peer;
    x.header_sink.header = {sizeof(herd_header_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR};
    x.header_sink.ctx = &x;
    x.header_sink.add = [](void* c, herd_str k, herd_str v) {
        auto& out = static_cast<Exchange*>(c)->extra_response_headers;
        out.append(k.data, k.size).append(": ").append(v.data, v.size).append("\r\n");
    };
    std::vector<Backend*> tried;

    for (;;) {
        http::request_parser<http::string_body, PoolAllocator<char>> parser;
        parser.header_limit(64 * 1024);
        parser.body_limit(cfg.max_request_body);
        deadline.set(stopping ? std::chrono::duration_cast<std::chrono::milliseconds>(kStopGrace) : cfg.idle_timeout);
        deadline.idle = true;
        auto [hec, hn] = co_await http::async_read_header(client, buffer, parser, nothrow);
        deadline.idle = false;
        if (hec) {
            if (auto r = http_rules::rejection_for_parse_error(hec)) {
                if (r->status == 413) r->reason = "request body over " + std::to_string(cfg.max_request_body) + " bytes";
                co_await refuse(*ctx, client, deadline, parser.get().version(), *r);
            } else if (deadline.fired && buffer.size() > 0 && !stopping) {
                // Part of a request, then silence: say so (nginx: 408) rather than vanish.
                co_await refuse(*ctx, client, deadline, 11, {408, "the request was not completed in time"});
            }
            co_return;
        }
        if (auto r = http_rules::check_request(parser.get(), limits)) {
            co_await refuse(*ctx, client, deadline, parser.get().version(), *r);
            co_return;
        }
        const unsigned version = parser.get().version();
        // 100 Continue exists from HTTP/1.1 on: an HTTP/1.0 client would take it for the answer.
        if (version >= 11 && !parser.is_done() && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
            http::response<http::empty_body> cont{http::status::continue_, version};
            co_await http::async_write(client, cont, nothrow);
        }
        if (!parser.is_done()) {
            deadline.set(cfg.idle_timeout);
            auto [bec, bn] = co_await http::async_read(client, buffer, parser, nothrow);
            if (bec) {
                if (auto r = http_rules::rejection_for_parse_error(bec)) {
                    if (r->status == 413)
                        r->reason = "request body over " + std::to_string(cfg.max_request_body) + " bytes";
                    co_await refuse(*ctx, client, deadline, version, *r);
                }
                co_return;
            }
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

        // What plugins see: the request as the client sent it (after the prefix). It is not changed
        // afterwards; the backend's copy of the head is written by wire::request_head.
        x.headers.clear();
        for (const auto& f : x.req)
            x.headers.push_back({{f.name_string().data(), f.name_string().size()}, {f.value().data(), f.value().size()}});
        x.abi.header = {sizeof(herd_request), HERD_ABI_MAJOR, HERD_ABI_MINOR};
        x.abi.method = {x.req.method_string().data(), x.req.method_string().size()};
        x.abi.target = {x.req.target().data(), x.req.target().size()};
        x.abi.peer_address = {peer.data(), peer.size()};
        x.abi.headers = x.headers.data();
        x.abi.header_count = x.headers.size();

        tried.clear();
        Backend* chosen = nullptr;
        Outcome outcome = Outcome::retry;
        Failure failure;
        KeptAnswer kept;
        std::shared_ptr<const Selection> held;         // keeps the chosen backend alive during the exchange
        std::shared_ptr<const Selection> failed_held;  // keeps the last failed one alive until it is counted
        Backend* failed = nullptr;
        std::string last_failed;
        uint64_t reselect_round = 0;  // the round the last failure asked for
        for (int attempt = 0; attempt <= cfg.retries; ++attempt) {
            held = current_selection();
            chosen = choose(*this, *held, tried, x);
            if (!chosen && attempt > 0) {
                // Nothing else is eligible or ready: retry after the re-selection the failure asked for.
                co_await await_selection_round(*this, reselect_round);
                held = current_selection();
                chosen = choose(*this, *held, tried, x);
            }
            if (!chosen) break;
            if (failed) failed->retries->add(1);  // a retry that really happens, counted on the backend that failed
            failed = nullptr;
            failed_held.reset();
            x.extra_response_headers.clear();
            for (auto& a : ctx->affinity) a.ops->remember(a.handle, &x.abi, &chosen->abi, &x.header_sink);
            const bool last = attempt == cfg.retries;
            outcome = co_await forward(*this, client, deadline, *chosen, x, last, keep_alive, failure, kept, false);
            if (outcome == Outcome::retry_fresh)  // a pooled connection the backend had closed: not its fault
                outcome = co_await forward(*this, client, deadline, *chosen, x, last, keep_alive, failure, kept, true);
            if (outcome != Outcome::retry) break;
            if (failure.kind != FailureKind::status) chosen->requests[0]->add(1);
            reselect_round = ctx->selection->rounds_started() + 1;
            note_failure(*ctx, *chosen, failure);
            last_failed = chosen->id;
            tried.push_back(chosen);  // compared only: it may not outlive `held`
            if (!retried(cfg.retry_on, failure)) break;
            failed = chosen;
            failed_held = held;
        }

        if (outcome == Outcome::client_gone) co_return;
        if (outcome == Outcome::done) {
            if (!keep_alive) co_return;
            continue;
        }
        // Nothing reached the client and nothing more can be tried.
        deadline.set(cfg.response_timeout);
        if (!chosen && tried.empty()) {
            ctx->no_backend->add(1);
            if (!co_await reply(client, version, keep_alive, http::status::service_unavailable, "application/json",
                                api_error("unavailable", "no backend available: none qualifies yet or all are down")))
                co_return;
            continue;
        }
        if (kept.status) {  // the last thing a backend said is the client's answer, not herd's summary
            if (!co_await reply(client, version, keep_alive, static_cast<http::status>(kept.status),
                                kept.content_type.empty() ? "application/json" : kept.content_type,
                                std::move(kept.body), kept.backend))
                co_return;
            continue;
        }
        const bool timeout = failure.kind == FailureKind::timeout || failure.reason == "connect timeout";
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

void ProxyServer::start(std::vector<int> inherited) {
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
    for (int i = 0; i < threads; ++i) {
        auto w = std::make_unique<Worker>(impl_->ctx);
        if (static_cast<size_t>(i) < inherited.size()) {  // take over a predecessor's listener
            w->acceptor.assign(addr.is_v6() ? tcp::v6() : tcp::v4(), inherited[i], ec);
            if (ec) fail("cannot take over the previous listener: " + ec.message());
            if (i == 0) impl_->port = w->acceptor.local_endpoint().port();
            impl_->workers.push_back(std::move(w));
            continue;
        }
        // With port 0 the first listener picks one and the others join it.
        tcp::endpoint ep(addr, i == 0 ? port : impl_->port);
        w->acceptor.open(ep.protocol(), ec);
        if (ec) fail(ec.message());
        w->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        // Every thread listens on the same port; the kernel spreads connections over them, and a
        // reloaded proxy can bind before the old one lets go.
        int one = 1;
        ::setsockopt(w->acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        w->acceptor.bind(ep, ec);
        if (ec) fail(ec.message());
        w->acceptor.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) fail(ec.message());
        if (i == 0) impl_->port = w->acceptor.local_endpoint().port();
        impl_->workers.push_back(std::move(w));
    }
    for (size_t i = static_cast<size_t>(threads); i < inherited.size(); ++i) ::close(inherited[i]);  // fewer threads now
    for (auto& w : impl_->workers) {
        asio::co_spawn(w->io, w->accept_loop(), asio::detached);
        asio::co_spawn(w->io, w->sweep(), asio::detached);
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
            for (auto& d : wp->deadlines)
                if (d.idle) d.set(std::chrono::duration_cast<std::chrono::milliseconds>(kStopGrace));
        });
    }
    for (auto& w : impl_->workers)
        if (w->thread.joinable()) w->thread.join();
    impl_->workers.clear();
}

uint16_t ProxyServer::port() const { return impl_->port; }

std::vector<int> ProxyServer::listener_fds() const {
    std::vector<int> out;
    for (const auto& w : impl_->workers)
        if (w->acceptor.is_open()) out.push_back(::dup(w->acceptor.native_handle()));
    return out;
}

}  // namespace herd::proxy

// The proxy's HTTP engine (Boost.Beast, C++20 coroutines).
//  - One io_context per thread, each with its own SO_REUSEPORT listener and its own upstream
//    connection pool: the request path takes no lock.
//  - Requests are buffered up to max_request_body so they can be replayed on retry (413 beyond);
//    responses are relayed in pieces as they arrive, never held whole.
//  - Retries go to another backend after the failures retry_on names, never once a byte has
//    reached the client; when every attempt failed the client gets the last backend's own answer.
//  - Requests are checked against RFC 9112 (http/request_rules) and refused with a 4xx before
//    anything is forwarded; an upstream connection is pooled only after a complete, clean answer.
#pragma once

#include "config/config.hpp"
#include "proxy/selection.hpp"
#include "util/log_limiter.hpp"

#include <herd/plugin_api.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace herd::proxy {

struct AffinityModule {
    std::string name;
    const herd_affinity_ops* ops;
    void* handle;
    metrics::Series* hits;
};

// A response the proxy answers itself (the mpp-compatible endpoints).
struct LocalResponse {
    int status = 200;
    std::string content_type;
    std::string body;
};

struct RouteContext {
    std::string proxy_name;
    config::ProxyConfig cfg;
    const herd_selector_ops* selector = nullptr;
    void* selector_handle = nullptr;
    std::vector<AffinityModule> affinity;
    SelectionSource* selection = nullptr;
    std::function<void()> reselect;  // after a backend failure; must be cheap and thread-safe
    std::function<std::optional<LocalResponse>(const std::string& path)> local;  // may be empty
    metrics::Series* no_backend = nullptr;
    metrics::Series* too_large = nullptr;
    metrics::Series* bad_requests = nullptr;   // refused before forwarding (400, 405, 408, 413, 431, 501, 505)
    metrics::Series* accept_errors = nullptr;
    metrics::Series* abandoned = nullptr;      // the client left before the answer began
    util::LogLimiter accept_log{std::chrono::seconds(10)};
    util::LogLimiter protocol_log{std::chrono::seconds(10)};
};

class ProxyServer {
public:
    explicit ProxyServer(std::shared_ptr<RouteContext> ctx);
    ~ProxyServer();

    // Binds every thread's listener; throws std::runtime_error ("cannot listen on ...").
    // `inherited`: listening sockets to take over (from the proxy this one replaces on reload), so
    // connections waiting in their backlog are not lost; the server owns them from then on.
    void start(std::vector<int> inherited = {});
    // Stops accepting, answers requests in flight (with Connection: close), gives idle
    // connections a moment to send a last request, then closes them, and joins.
    void stop();
    // Duplicates of the listening sockets, for a successor.
    std::vector<int> listener_fds() const;
    uint16_t port() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace herd::proxy

// The HTTP server under every protocol double (Consul, Kubernetes, Marathon): one thread per
// connection, so a handler may block (a Consul blocking query) or stream (a Kubernetes watch,
// Marathon's event stream) without holding up other requests. It can be stopped and started on
// the same port, as a server restart looks to a client, and it can stall (accept, never answer)
// for timeout tests. Requests are parsed with Beast; this is the only test file that includes it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herd::test {

struct DoubleRequest {
    std::string method;
    std::string target;  // as sent: path and query, still escaped
    std::string path;    // decoded
    std::map<std::string, std::string> query;  // decoded; a bare "?recurse" maps to ""
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    bool has(const std::string& q) const { return query.count(q) > 0; }
    std::string param(const std::string& q, const std::string& fallback = "") const {
        auto it = query.find(q);
        return it == query.end() ? fallback : it->second;
    }
    std::string header(const std::string& lower) const {
        auto it = headers.find(lower);
        return it == headers.end() ? std::string() : it->second;
    }
};

struct DoubleResponse {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

// How a handler answers: once with send(), or as a stream (chunked) with begin() and write().
class DoubleReply {
public:
    virtual ~DoubleReply() = default;
    virtual void send(const DoubleResponse& r) = 0;
    // Starts a chunked response; write() returns false once the client is gone or the server stops.
    virtual void begin(int status, const std::vector<std::pair<std::string, std::string>>& headers) = 0;
    virtual bool write(std::string_view chunk) = 0;
    // True once the server is stopping: a blocking handler returns (its answer is not delivered).
    virtual bool stopping() const = 0;
};

class HttpDouble {
public:
    using Handler = std::function<void(const DoubleRequest&, DoubleReply&)>;
    // on_stop runs when the server stops, before connections are joined: wake blocked handlers.
    explicit HttpDouble(Handler handler, std::function<void()> on_stop = {}, size_t body_limit = 16u << 20);
    ~HttpDouble();
    HttpDouble(const HttpDouble&) = delete;

    void start();  // listens on 127.0.0.1 (the same port again after a stop)
    void stop();   // closes the listener and every connection, waits for every handler
    bool running() const;
    uint16_t port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    // While stalled, requests are read and never answered (until unstalled or stopped).
    void stall(bool on);
    size_t requests() const { return requests_.load(); }  // requests handled so far

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    uint16_t port_ = 0;
    std::atomic<size_t> requests_{0};
};

std::string percent_decode(std::string_view s);

}  // namespace herd::test

// A blocking HTTP/1.1 client with keep-alive, for driving the proxy in tests: it reconnects when
// the server closes, and reports every failure instead of hiding it.
#pragma once

#include "support.hpp"

#include <map>
#include <string>

namespace herd::test {

class HttpConnection {
public:
    explicit HttpConnection(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10))
        : port_(port), timeout_(timeout) {}
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;

    // status 0 = the exchange failed (connect, reset, malformed answer).
    HttpResponse request(const std::string& method, const std::string& target, const std::string& body = "",
                         const std::map<std::string, std::string>& headers = {});
    HttpResponse get(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
        return request("GET", target, "", headers);
    }

private:
    bool connect();
    void close();
    uint16_t port_;
    std::chrono::milliseconds timeout_;
    int fd_ = -1;
    std::string buffer_;
};

// A tiny HTTP server on loopback answering every request from `handler` (path -> status, body;
// a negative status sends `body` as the raw response), on its own thread; for backends that
// misbehave in ways a real Prometheus never would.
class FakeBackend {
public:
    using Handler = std::function<std::pair<int, std::string>(const std::string& path)>;
    explicit FakeBackend(Handler h);
    ~FakeBackend();
    uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    uint16_t port_ = 0;
};

}  // namespace herd::test

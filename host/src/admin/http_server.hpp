// A small HTTP/1.1 server for herd's admin endpoints. Beast stays inside http_server.cpp: the
// rest of the host sees plain structs, which keeps compile times down.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herd::admin {

struct Request {
    std::string method;
    std::string target;  // path + query as received
    std::string path;
    std::string query;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, in order
    std::string peer;  // the client's address

    // The first value of a header (name in lower case), "" when absent.
    std::string header(std::string_view lower_name) const {
        for (const auto& [k, v] : headers)
            if (k == lower_name) return v;
        return {};
    }
    bool has_header(std::string_view lower_name) const {
        for (const auto& [k, v] : headers)
            if (k == lower_name) return true;
        return false;
    }
};

struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

// Handlers run on a small pool of their own threads, never on the I/O thread: one that waits
// (a KV call, a request forwarded to another herd) holds up only itself, not /metrics or /-/ready.
// They must therefore be thread-safe.
using Handler = std::function<Response(const Request&)>;

class HttpServer {
public:
    explicit HttpServer(Handler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds and starts serving on its own thread. Throws std::runtime_error with a message such as
    // "cannot listen on 127.0.0.1:9095: Address already in use".
    void start(const std::string& host_port);
    // Stops accepting, lets requests in flight finish, closes idle connections, joins.
    void stop();
    uint16_t port() const;
    const std::string& address() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace herd::admin

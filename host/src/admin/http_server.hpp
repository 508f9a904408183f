// A small HTTP/1.1 server for herd's admin endpoints. Beast stays inside http_server.cpp: the
// rest of the host sees plain structs, which keeps compile times down.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace herd::admin {

struct Request {
    std::string method;
    std::string target;  // path + query as received
    std::string path;
    std::string query;
    std::string body;
};

struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

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

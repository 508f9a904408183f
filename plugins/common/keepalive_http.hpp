// A lean HTTP/1.1 client for request/response APIs called at a high rate (etcd's gateway): kept-
// alive connections over Boost.Beast, plain or TLS (OpenSSL), one deadline per exchange. It does
// per request what a protocol client needs and nothing more: libcurl spent ~4x the CPU of the
// whole exchange here (bench/kv), which on a small host is CPU etcd itself needs. Streams (watches)
// stay on HttpClient. Same request and response types and the same error contract as HttpClient.
#pragma once

#include "curl_http.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace herd::net {

class KeepAliveClient {
public:
    explicit KeepAliveClient(TlsFiles tls = {});
    ~KeepAliveClient();
    KeepAliveClient(const KeepAliveClient&) = delete;
    KeepAliveClient& operator=(const KeepAliveClient&) = delete;

    // Any HTTP status is an answer; transport failures throw sdk::Error: HERD_ERR_TIMEOUT when
    // req.timeout passed, HERD_ERR_UNAVAILABLE otherwise (refused, reset, TLS). A kept-alive
    // connection the server closed meanwhile is replaced once, transparently, when nothing of the
    // request can have reached the server's handler (the write failed, or not one byte came back).
    HttpResponse perform(const HttpRequest& req);

    struct Connection;

private:
    std::unique_ptr<Connection> take(const std::string& origin);
    void give(std::unique_ptr<Connection> c);

    TlsFiles tls_;
    struct Tls;
    std::unique_ptr<Tls> ssl_;  // the TLS context, made once (certificates are read once)
    std::mutex mu_;
    std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace herd::net

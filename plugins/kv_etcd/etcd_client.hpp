// etcd's v3 JSON gateway over libcurl: POST a JSON body to /v3/..., with a timeout, optional TLS
// files and username/password auth, failing over between endpoints. Keys and values travel
// base64-encoded; 64-bit integers travel as JSON strings (reference: etcd-v3-gateway.md).
#pragma once

#include "curl_http.hpp"
#include "keepalive_http.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace herd::kv_etcd {

struct ClientOptions {
    std::vector<std::string> endpoints;  // http(s)://host:port
    std::chrono::milliseconds timeout{5000};
    std::string username, password;
    std::string ca_file, cert_file, key_file;
};

using net::base64;
using net::unbase64;
int64_t i64(const nlohmann::json& j, const char* field);  // "12" or 12 or absent (0)

class EtcdClient {
public:
    explicit EtcdClient(ClientOptions o);
    ~EtcdClient();

    // POSTs and returns the parsed answer. Throws sdk::Error mapped from the HTTP/gRPC status:
    // UNAVAILABLE (no endpoint answered), TIMEOUT, PERMISSION, NOT_FOUND, INVALID_ARGUMENT,
    // COMPACTED (out of range), naming the endpoint and etcd's message.
    nlohmann::json call(const std::string& path, const nlohmann::json& body);
    // The same with the request already serialized (the hot calls build their few fields as text).
    nlohmann::json call_text(const std::string& path, const std::string& body);

    // A streaming POST (the watch): on_line gets each JSON line; returns when the stream ends or
    // `stop` becomes true; throws what on_line threw, or a connection error (as above).
    void stream(const std::string& path, const nlohmann::json& body, const std::function<void(const nlohmann::json&)>& on_line,
                const std::atomic<bool>& stop);

private:
    nlohmann::json call_once(const std::string& endpoint, const std::string& path, const std::string& body,
                             const std::string& token, long* http);
    std::string authenticate(const std::string& endpoint);  // stores and returns a fresh token

    net::HttpRequest request(const std::string& url, const std::string& body, const std::string& token) const;

    ClientOptions o_;
    net::KeepAliveClient unary_;  // every request/response call: the hot path
    net::HttpClient http_;        // watches: long-lived streams
    std::mutex mu_;
    size_t current_ = 0;  // the endpoint that answered last
    std::string token_;
};

}  // namespace herd::kv_etcd

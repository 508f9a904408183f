// Consul's KV and session HTTP API (reference: consul-kv-api.md) over plugins/common: every request
// carries the ACL token and datacenter; answers are decoded; failures become sdk::Error with a
// status and a message that names the agent.
#pragma once

#include "curl_http.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::kv_consul {

struct ClientOptions {
    std::string address;  // http(s)://host:port
    std::string token;
    std::string datacenter;
    net::TlsFiles tls;
    std::chrono::milliseconds timeout{5000};
};

struct KvPair {
    std::string key, value, session;
    uint64_t create_index = 0, modify_index = 0, lock_index = 0, flags = 0;
};

struct KvRead {
    bool found = false;  // false on Consul's 404 (no key, or nothing under the prefix)
    std::vector<KvPair> pairs;
    uint64_t index = 0;  // X-Consul-Index
};

// Keys as Consul accepts them: A-Z a-z 0-9 , - _ . /, no leading '/', no "../".
bool valid_key(std::string_view key);

class ConsulClient {
public:
    explicit ConsulClient(ClientOptions o);

    // GET /v1/kv/<key>; with recurse, every key under it. A blocking query when index > 0: the
    // answer comes when the index passes `index` or after `wait` (+ wait/16 jitter); `cancel`
    // ends it early (then throws UNAVAILABLE "cancelled").
    KvRead read(const std::string& key, bool recurse, uint64_t index = 0,
                std::chrono::milliseconds wait = std::chrono::milliseconds(0), const std::atomic<bool>* cancel = nullptr);
    // PUT /v1/kv/<key>?<query>: Consul's true/false.
    bool put(const std::string& key, std::string_view value, const std::string& query);
    bool del(const std::string& key, const std::string& query);

    std::string session_create(const nlohmann::json& body);  // the session ID
    bool session_renew(const std::string& id);              // false: the session is gone
    void session_destroy(const std::string& id);

    const std::string& address() const { return o_.address; }

private:
    net::HttpResponse call(const std::string& method, const std::string& path, const std::string& query,
                           std::string_view body, std::chrono::milliseconds timeout, const std::atomic<bool>* cancel = nullptr);
    ClientOptions o_;
    net::HttpClient http_;
};

}  // namespace herd::kv_consul

#include "consul_client.hpp"

#include <herd/sdk/error.hpp>

#include <algorithm>
#include <cctype>

namespace herd::kv_consul {

using nlohmann::json;

bool valid_key(std::string_view k) {
    if (!k.empty() && k.front() == '/') return false;
    if (k.find("../") != std::string_view::npos || k == "..") return false;
    return std::all_of(k.begin(), k.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == ',' || c == '-' || c == '_' || c == '.' || c == '/';
    });
}

ConsulClient::ConsulClient(ClientOptions o) : o_(std::move(o)), http_(o_.tls) {}

net::HttpResponse ConsulClient::call(const std::string& method, const std::string& path, const std::string& query,
                                     std::string_view body, std::chrono::milliseconds timeout,
                                     const std::atomic<bool>* cancel) {
    net::HttpRequest req;
    req.method = method;
    std::string q = query;
    if (!o_.datacenter.empty()) q += (q.empty() ? "" : "&") + std::string("dc=") + net::url_escape(o_.datacenter);
    req.url = o_.address + path + (q.empty() ? "" : "?" + q);  // valid keys need no escaping
    req.body = std::string(body);
    if (!o_.token.empty()) req.headers.push_back("X-Consul-Token: " + o_.token);
    req.timeout = timeout;
    req.connect_timeout = o_.timeout;
    req.cancel = cancel;
    net::HttpResponse r;
    try {
        r = http_.perform(req);
    } catch (const sdk::Error& e) {
        throw sdk::Error(e.status(), "consul " + o_.address + ": " + e.what());
    }
    if (r.status == 200 || r.status == 404) return r;
    const std::string said = net::excerpt(r.body, 300);
    const std::string what = "consul " + o_.address + " answered " + std::to_string(r.status) + " to " + method + " " +
                             path + (said.empty() ? "" : ": " + said);
    switch (r.status) {
        case 400: throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, what);
        case 401:
        case 403: throw sdk::Error(HERD_ERR_PERMISSION, what + (o_.token.empty() ? " (no token configured)" : " (check the token)"));
        case 413: throw sdk::Error(HERD_ERR_TOO_LARGE, what);
        default:
            if (said.find("No path to datacenter") != std::string::npos)
                throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, what + " (is datacenter \"" + o_.datacenter + "\" right?)");
            throw sdk::Error(HERD_ERR_UNAVAILABLE, what);
    }
}

namespace {

uint64_t u64(const json& j, const char* f) {
    auto it = j.find(f);
    return it == j.end() || !it->is_number_unsigned() ? 0 : it->get<uint64_t>();
}

}  // namespace

KvRead ConsulClient::read(const std::string& key, bool recurse, uint64_t index, std::chrono::milliseconds wait,
                          const std::atomic<bool>* cancel) {
    std::string q = recurse ? "recurse" : "";
    auto timeout = o_.timeout;
    if (index > 0) {
        q += (q.empty() ? "" : "&") + std::string("index=") + std::to_string(index) + "&wait=" + std::to_string(wait.count()) + "ms";
        timeout += wait + wait / 16;  // the longest a healthy agent holds a blocking query
    } else {
        q += (q.empty() ? "" : "&") + std::string("consistent");
    }
    net::HttpResponse r = call("GET", "/v1/kv/" + key, q, "", timeout, cancel);
    KvRead out;
    const std::string idx = r.header("x-consul-index");
    if (idx.empty()) throw sdk::Error(HERD_ERR_UNAVAILABLE, "consul " + o_.address + ": no X-Consul-Index in the answer to GET /v1/kv/" + key);
    out.index = std::stoull(idx);
    if (r.status == 404) return out;
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_array())
        throw sdk::Error(HERD_ERR_UNAVAILABLE, "consul " + o_.address + ": GET /v1/kv/" + key + " answered with a body that is not a JSON array");
    out.found = true;
    for (const auto& e : j) {
        KvPair p;
        p.key = e.value("Key", "");
        if (e.contains("Value") && e["Value"].is_string()) p.value = net::unbase64(e["Value"].get<std::string>());
        if (e.contains("Session") && e["Session"].is_string()) p.session = e["Session"].get<std::string>();
        p.create_index = u64(e, "CreateIndex");
        p.modify_index = u64(e, "ModifyIndex");
        p.lock_index = u64(e, "LockIndex");
        p.flags = u64(e, "Flags");
        out.pairs.push_back(std::move(p));
    }
    return out;
}

bool ConsulClient::put(const std::string& key, std::string_view value, const std::string& query) {
    return call("PUT", "/v1/kv/" + key, query, value, o_.timeout).body.find("true") == 0;
}

bool ConsulClient::del(const std::string& key, const std::string& query) {
    return call("DELETE", "/v1/kv/" + key, query, "", o_.timeout).body.find("true") == 0;
}

std::string ConsulClient::session_create(const json& body) {
    net::HttpResponse r = call("PUT", "/v1/session/create", "", body.dump(), o_.timeout);
    json j = json::parse(r.body, nullptr, false);
    if (r.status != 200 || j.is_discarded() || !j.contains("ID"))
        throw sdk::Error(HERD_ERR_UNAVAILABLE, "consul " + o_.address + ": session create answered " + std::to_string(r.status));
    return j["ID"].get<std::string>();
}

bool ConsulClient::session_renew(const std::string& id) {
    return call("PUT", "/v1/session/renew/" + id, "", "", o_.timeout).status == 200;
}

void ConsulClient::session_destroy(const std::string& id) { call("PUT", "/v1/session/destroy/" + id, "", "", o_.timeout); }

}  // namespace herd::kv_consul

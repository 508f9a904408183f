#include "etcd_client.hpp"

#include <herd/sdk/error.hpp>

namespace herd::kv_etcd {

using nlohmann::json;

int64_t i64(const json& j, const char* field) {
    auto it = j.find(field);
    if (it == j.end() || it->is_null()) return 0;
    if (it->is_string()) return std::stoll(it->get<std::string>());
    return it->get<int64_t>();
}

namespace {

// etcd's HTTP status / gRPC code to herd's status.
herd_status status_of(long http, const json& body) {
    const std::string msg = body.is_object() ? body.value("message", body.value("error", std::string())) : "";
    if (msg.find("compacted") != std::string::npos || msg.find("future revision") != std::string::npos)
        return HERD_ERR_COMPACTED;
    if (msg.find("too large") != std::string::npos) return HERD_ERR_TOO_LARGE;  // "request is too large" is a 400
    // Over the gRPC receive limit (max-request-bytes + 512 KiB) the gateway answers 429 with gRPC's
    // RESOURCE_EXHAUSTED "received message larger than max": a size problem, not a busy server.
    if (msg.find("larger than max") != std::string::npos) return HERD_ERR_TOO_LARGE;
    // etcd 3.4 answers auth problems with 400 (InvalidArgument) as often as with 401/403.
    for (const char* auth : {"user name is empty", "permission denied", "invalid auth token", "authentication failed"})
        if (msg.find(auth) != std::string::npos) return HERD_ERR_PERMISSION;
    switch (http) {
        case 400: return HERD_ERR_INVALID_ARGUMENT;
        case 401: return HERD_ERR_PERMISSION;
        case 403: return HERD_ERR_PERMISSION;
        case 404: return HERD_ERR_NOT_FOUND;
        case 413: return HERD_ERR_TOO_LARGE;
        default: return HERD_ERR_UNAVAILABLE;
    }
}

}  // namespace

EtcdClient::EtcdClient(ClientOptions o)
    : o_(std::move(o)),
      unary_(net::TlsFiles{o_.ca_file, o_.cert_file, o_.key_file, {}, {}, {}, false}),
      http_(net::TlsFiles{o_.ca_file, o_.cert_file, o_.key_file, {}, {}, {}, false}) {}

EtcdClient::~EtcdClient() = default;

net::HttpRequest EtcdClient::request(const std::string& url, const std::string& body, const std::string& token) const {
    net::HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.body = body;
    req.headers.push_back("Content-Type: application/json");
    if (!token.empty()) req.headers.push_back("Authorization: " + token);
    req.timeout = o_.timeout;
    req.connect_timeout = o_.timeout;
    req.keep_headers = false;  // etcd's answer is all in its JSON body
    return req;
}

json EtcdClient::call_once(const std::string& endpoint, const std::string& path, const std::string& body,
                           const std::string& token, long* http) {
    *http = 0;
    net::HttpResponse r = unary_.perform(request(endpoint + path, body, token));
    *http = r.status;
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) throw sdk::Error(HERD_ERR_UNAVAILABLE, endpoint + ": answered " + std::to_string(*http) + " with a body that is not JSON");
    return j;
}

std::string EtcdClient::authenticate(const std::string& endpoint) {
    long http = 0;
    json j = call_once(endpoint, "/v3/auth/authenticate", json{{"name", o_.username}, {"password", o_.password}}.dump(), "",
                       &http);
    if (http != 200 || !j.contains("token"))
        throw sdk::Error(HERD_ERR_PERMISSION,
                         endpoint + ": authentication as \"" + o_.username + "\" failed: " + j.value("message", std::string("?")));
    std::string token = j["token"].get<std::string>();
    std::lock_guard lk(mu_);
    token_ = token;
    return token;
}

json EtcdClient::call(const std::string& path, const json& body) { return call_text(path, body.dump()); }

json EtcdClient::call_text(const std::string& path, const std::string& text) {
    std::string errors;
    // Each endpoint once, starting with the one that answered last. The lock guards only the
    // shared choice of endpoint and the token: requests themselves run concurrently.
    for (size_t tried = 0; tried < o_.endpoints.size(); ++tried) {
        std::string ep, token;
        size_t index;
        {
            std::lock_guard lk(mu_);
            index = current_;
            ep = o_.endpoints[index];
            token = token_;
        }
        try {
            if (!o_.username.empty() && token.empty()) token = authenticate(ep);
            long http = 0;
            json j = call_once(ep, path, text, token, &http);
            if (http == 401 && !o_.username.empty()) {  // the token expired: once more with a new one
                token = authenticate(ep);
                j = call_once(ep, path, text, token, &http);
            }
            if (http == 200) return j;
            herd_status st = status_of(http, j);
            if (st != HERD_ERR_UNAVAILABLE)
                throw sdk::Error(st, ep + ": " + j.value("message", j.value("error", std::to_string(http))));
            errors += (errors.empty() ? "" : "; ") + ep + ": HTTP " + std::to_string(http);
        } catch (const sdk::Error& e) {
            if (e.status() != HERD_ERR_UNAVAILABLE && e.status() != HERD_ERR_TIMEOUT) throw;
            errors += (errors.empty() ? "" : "; ") + std::string(e.what());
        }
        std::lock_guard lk(mu_);
        if (current_ == index) current_ = (index + 1) % o_.endpoints.size();
    }
    throw sdk::Error(HERD_ERR_UNAVAILABLE, "no etcd endpoint answered (" + errors + ")");
}

void EtcdClient::stream(const std::string& path, const json& body, const std::function<void(const json&)>& on_line,
                        const std::atomic<bool>& stop) {
    std::string endpoint, token;
    {
        std::lock_guard lk(mu_);
        endpoint = o_.endpoints[current_];
        token = token_;
    }
    if (!o_.username.empty() && token.empty()) token = authenticate(endpoint);
    net::HttpRequest req = request(endpoint + path, body.dump(), token);
    // The stream is long-lived: no overall timeout, but it ends promptly when asked to stop, and a
    // server silent for a minute counts as gone (progress notifications keep a healthy one talking).
    req.timeout = std::chrono::milliseconds(0);
    req.cancel = &stop;
    net::LineSplitter lines;
    net::HttpResponse r;
    try {
        r = http_.stream(req, [&](std::string_view data) {
            lines.feed(data, [&](std::string_view line) {
                if (line.empty()) return;
                json j = json::parse(line, nullptr, false);
                if (!j.is_discarded()) on_line(j);
            });
        });
    } catch (const sdk::Error& e) {
        if (stop) return;
        if (e.status() != HERD_ERR_UNAVAILABLE && e.status() != HERD_ERR_TIMEOUT) throw;
        std::lock_guard lk(mu_);
        current_ = (current_ + 1) % o_.endpoints.size();  // the next attempt tries another endpoint
        throw sdk::Error(HERD_ERR_UNAVAILABLE, endpoint + ": watch stream: " + e.what());
    }
    if (stop) return;
    if (r.status != 200) throw sdk::Error(HERD_ERR_UNAVAILABLE, endpoint + ": watch answered HTTP " + std::to_string(r.status));
}

}  // namespace herd::kv_etcd

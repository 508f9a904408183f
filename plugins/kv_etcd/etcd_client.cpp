#include "etcd_client.hpp"

#include <herd/sdk/error.hpp>

#include <curl/curl.h>
#include <openssl/evp.h>

#include <memory>

namespace herd::kv_etcd {

using nlohmann::json;

std::string base64(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(raw.data()),
                            static_cast<int>(raw.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string unbase64(std::string_view b64) {
    if (b64.size() % 4 != 0) throw sdk::Error(HERD_ERR_INTERNAL, "etcd sent malformed base64");
    std::string out(3 * b64.size() / 4, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(b64.data()),
                            static_cast<int>(b64.size()));
    if (n < 0) throw sdk::Error(HERD_ERR_INTERNAL, "etcd sent malformed base64");
    size_t pad = 0;  // EVP_DecodeBlock keeps the bytes the '=' padding stands for
    if (!b64.empty() && b64.back() == '=') ++pad;
    if (b64.size() > 1 && b64[b64.size() - 2] == '=') ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

int64_t i64(const json& j, const char* field) {
    auto it = j.find(field);
    if (it == j.end() || it->is_null()) return 0;
    if (it->is_string()) return std::stoll(it->get<std::string>());
    return it->get<int64_t>();
}

CurlPool::~CurlPool() {
    for (CURL* h : free_) curl_easy_cleanup(h);
}

CURL* CurlPool::take() {
    {
        std::lock_guard lk(mu_);
        if (!free_.empty()) {
            CURL* h = free_.back();
            free_.pop_back();
            curl_easy_reset(h);  // options go, the connection cache stays
            return h;
        }
    }
    return curl_easy_init();
}

void CurlPool::give(CURL* h) {
    std::lock_guard lk(mu_);
    if (free_.size() < 32) free_.push_back(h);
    else curl_easy_cleanup(h);
}

namespace {

// An easy handle for one request. Handles are pooled: a reused handle keeps its connections
// alive, so a KV call does not pay a TCP (and TLS) handshake each time.
struct CurlHandle {
    explicit CurlHandle(CurlPool* pool = nullptr) : pool_(pool), h(pool ? pool->take() : curl_easy_init()) {}
    ~CurlHandle() {
        curl_slist_free_all(headers);
        if (pool_) pool_->give(h);
        else curl_easy_cleanup(h);
    }
    CurlPool* pool_;
    CURL* h;
    curl_slist* headers = nullptr;
};

size_t append(char* p, size_t s, size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, s * n);
    return s * n;
}

void setup(CurlHandle& c, const ClientOptions& o, const std::string& url, const std::string& body,
           const std::string& token) {
    curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.h, CURLOPT_POST, 1L);
    curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c.h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.timeout.count()));
    curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
    if (!o.ca_file.empty()) curl_easy_setopt(c.h, CURLOPT_CAINFO, o.ca_file.c_str());
    if (!o.cert_file.empty()) curl_easy_setopt(c.h, CURLOPT_SSLCERT, o.cert_file.c_str());
    if (!o.key_file.empty()) curl_easy_setopt(c.h, CURLOPT_SSLKEY, o.key_file.c_str());
    c.headers = curl_slist_append(c.headers, "Content-Type: application/json");
    if (!token.empty()) c.headers = curl_slist_append(c.headers, ("Authorization: " + token).c_str());
    curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.headers);
}

// etcd's HTTP status / gRPC code to herd's status.
herd_status status_of(long http, const json& body) {
    const std::string msg = body.is_object() ? body.value("message", body.value("error", std::string())) : "";
    if (msg.find("compacted") != std::string::npos || msg.find("future revision") != std::string::npos)
        return HERD_ERR_COMPACTED;
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

EtcdClient::EtcdClient(ClientOptions o) : o_(std::move(o)) {
    static const bool inited = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
    (void)inited;
}

EtcdClient::~EtcdClient() = default;

json EtcdClient::call_once(const std::string& endpoint, const std::string& path, const std::string& body,
                           const std::string& token, long* http) {
    CurlHandle c(&pool_);
    std::string out;
    setup(c, o_, endpoint + path, body, token);
    curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, static_cast<long>(o_.timeout.count()));
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, &append);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &out);
    CURLcode rc = curl_easy_perform(c.h);
    if (rc != CURLE_OK) {
        *http = 0;
        throw sdk::Error(rc == CURLE_OPERATION_TIMEDOUT ? HERD_ERR_TIMEOUT : HERD_ERR_UNAVAILABLE,
                         endpoint + ": " + curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, http);
    json j = json::parse(out, nullptr, false);
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

json EtcdClient::call(const std::string& path, const json& body) {
    const std::string text = body.dump();
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
    struct State {
        std::string pending;
        const std::function<void(const json&)>* on_line;
        const std::atomic<bool>* stop;
        std::exception_ptr failure;  // thrown by on_line: carried past libcurl's C frames
    } st{{}, &on_line, &stop, nullptr};
    CurlHandle c;
    const std::string text = body.dump();
    setup(c, o_, endpoint + path, text, token);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) -> size_t {
        auto* st = static_cast<State*>(u);
        st->pending.append(p, s * n);
        for (size_t nl; (nl = st->pending.find('\n')) != std::string::npos;) {
            std::string line = st->pending.substr(0, nl);
            st->pending.erase(0, nl + 1);
            if (line.empty()) continue;
            json j = json::parse(line, nullptr, false);
            if (j.is_discarded()) continue;
            try {
                (*st->on_line)(j);
            } catch (...) {
                st->failure = std::current_exception();
                return 0;  // aborts the transfer
            }
        }
        return s * n;
    });
    // The stream is long-lived: no overall timeout, but abort promptly when asked to stop, and
    // treat a server silent for too long as gone (progress notifications keep a healthy one talking).
    curl_easy_setopt(c.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c.h, CURLOPT_XFERINFODATA, &st);
    curl_easy_setopt(c.h, CURLOPT_XFERINFOFUNCTION, +[](void* u, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
        return static_cast<State*>(u)->stop->load() ? 1 : 0;
    });
    curl_easy_setopt(c.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c.h, CURLOPT_LOW_SPEED_TIME, 60L);
    CURLcode rc = curl_easy_perform(c.h);
    if (st.failure) std::rethrow_exception(st.failure);
    if (stop) return;
    if (rc != CURLE_OK) {
        std::lock_guard lk(mu_);
        current_ = (current_ + 1) % o_.endpoints.size();  // the next attempt tries another endpoint
        throw sdk::Error(HERD_ERR_UNAVAILABLE, endpoint + ": watch stream: " + curl_easy_strerror(rc));
    }
    long http = 0;
    curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &http);
    if (http != 200) throw sdk::Error(HERD_ERR_UNAVAILABLE, endpoint + ": watch answered HTTP " + std::to_string(http));
}

}  // namespace herd::kv_etcd

#include "curl_http.hpp"

#include <herd/sdk/error.hpp>

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

namespace herd::net {

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

// One request's easy handle, back to the pool afterwards so its connection is reused.
struct Exchange {
    Exchange(CurlPool& pool, const TlsFiles& tls, const HttpRequest& req, HttpResponse* out) : pool_(pool), h(pool.take()) {
        curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        errbuf[0] = '\0';
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);  // the detail ("certificate has expired"), not only the class
        if (req.method == "GET") {
            curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
            if (req.method != "DELETE" || !req.body.empty()) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
            }
        }
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout.count()));
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
        if (!tls.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, tls.ca_file.c_str());
        if (!tls.cert_file.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, tls.cert_file.c_str());
        if (!tls.key_file.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, tls.key_file.c_str());
        auto blob = [&](CURLoption opt, const std::string& pem) {
            curl_blob b{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
            curl_easy_setopt(h, opt, &b);
        };
        if (!tls.ca_pem.empty()) blob(CURLOPT_CAINFO_BLOB, tls.ca_pem);
        if (!tls.cert_pem.empty()) {
            blob(CURLOPT_SSLCERT_BLOB, tls.cert_pem);
            curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        }
        if (!tls.key_pem.empty()) {
            blob(CURLOPT_SSLKEY_BLOB, tls.key_pem);
            curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        }
        if (tls.insecure_skip_verify) {
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip for bodies
        for (const auto& hd : req.headers) headers = curl_slist_append(headers, hd.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, +[](char* p, size_t s, size_t n, void* u) -> size_t {
            auto* r = static_cast<HttpResponse*>(u);
            std::string_view line(p, s * n);
            if (line.rfind("HTTP/", 0) == 0) r->headers.clear();  // a new response (after a redirect or 100)
            if (auto colon = line.find(':'); colon != std::string_view::npos) {
                std::string name(line.substr(0, colon));
                std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
                std::string_view v = line.substr(colon + 1);
                while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
                while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
                r->headers[name] = std::string(v);
            }
            return s * n;
        });
        if (req.cancel) {
            curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(h, CURLOPT_XFERINFODATA, req.cancel);
            curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, +[](void* u, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
                return static_cast<const std::atomic<bool>*>(u)->load() ? 1 : 0;
            });
        }
    }
    ~Exchange() {
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);  // the buffer dies with this exchange; the handle lives on
        curl_slist_free_all(headers);
        pool_.give(h);
    }
    void finish(CURLcode rc, const HttpRequest& req, HttpResponse* out) {
        if (rc == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
            return;
        }
        std::string what = req.method + " " + req.url + ": ";
        if (rc == CURLE_ABORTED_BY_CALLBACK && req.cancel && req.cancel->load())
            throw sdk::Error(HERD_ERR_UNAVAILABLE, what + "cancelled");
        if (rc == CURLE_OPERATION_TIMEDOUT)
            throw sdk::Error(HERD_ERR_TIMEOUT, what + (req.timeout.count() ? "no answer within " + std::to_string(req.timeout.count()) + " ms"
                                                                           : std::string("the stream stayed silent too long")));
        throw sdk::Error(HERD_ERR_UNAVAILABLE, what + (errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc))));
    }
    CurlPool& pool_;
    CURL* h;
    curl_slist* headers = nullptr;
    char errbuf[CURL_ERROR_SIZE];
};

}  // namespace

HttpClient::HttpClient(TlsFiles tls) : tls_(std::move(tls)) {
    static const bool inited = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
    (void)inited;
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::perform(const HttpRequest& req) {
    HttpResponse out;
    Exchange x(pool_, tls_, req, &out);
    curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &out.body);
    curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) -> size_t {
        static_cast<std::string*>(u)->append(p, s * n);
        return s * n;
    });
    x.finish(curl_easy_perform(x.h), req, &out);
    return out;
}

HttpResponse HttpClient::stream(const HttpRequest& req, const std::function<void(std::string_view)>& on_data,
                                std::chrono::seconds idle) {
    HttpResponse out;
    struct State {
        const std::function<void(std::string_view)>* on_data;
        std::exception_ptr failure;  // thrown by on_data: carried past libcurl's C frames
    } st{&on_data, nullptr};
    Exchange x(pool_, tls_, req, &out);
    curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) -> size_t {
        auto* st = static_cast<State*>(u);
        try {
            (*st->on_data)(std::string_view(p, s * n));
        } catch (...) {
            st->failure = std::current_exception();
            return 0;  // aborts the transfer
        }
        return s * n;
    });
    curl_easy_setopt(x.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(x.h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(idle.count()));
    CURLcode rc = curl_easy_perform(x.h);
    if (st.failure) std::rethrow_exception(st.failure);
    x.finish(rc, req, &out);
    return out;
}

std::string excerpt(std::string_view body, size_t max) {
    std::string out;
    bool space = false;
    for (char c : body) {
        if (out.size() >= max) break;
        if (std::isspace(static_cast<unsigned char>(c))) {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

std::string url_escape(std::string_view raw) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(raw.size());
    for (unsigned char c : raw) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string base64(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(raw.data()),
                            static_cast<int>(raw.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string unbase64(std::string_view b64) {
    if (b64.size() % 4 != 0) throw sdk::Error(HERD_ERR_INTERNAL, "malformed base64 in the server's answer");
    std::string out(3 * b64.size() / 4, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(b64.data()),
                            static_cast<int>(b64.size()));
    if (n < 0) throw sdk::Error(HERD_ERR_INTERNAL, "malformed base64 in the server's answer");
    size_t pad = 0;  // EVP_DecodeBlock keeps the bytes the '=' padding stands for
    if (!b64.empty() && b64.back() == '=') ++pad;
    if (b64.size() > 1 && b64[b64.size() - 2] == '=') ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

}  // namespace herd::net

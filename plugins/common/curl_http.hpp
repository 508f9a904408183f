// What every network plugin needs from HTTP, over libcurl: pooled keep-alive handles, TLS files,
// a per-request timeout, cancellation from another thread, response headers, and streamed bodies
// (watches). Failures become sdk::Error naming the URL, so a plugin's message says which server.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace herd::net {

struct TlsFiles {
    std::string ca_file, cert_file, key_file;  // empty = system CAs / no client certificate
    std::string ca_pem, cert_pem, key_pem;     // the same in memory (kubeconfig's *-data); win over files
    bool insecure_skip_verify = false;
};

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::string body;
    std::vector<std::string> headers;  // "Name: value"
    std::chrono::milliseconds timeout{5000};          // the whole exchange; 0 = none (streams)
    std::chrono::milliseconds connect_timeout{5000};
    const std::atomic<bool>* cancel = nullptr;  // set from another thread: the request ends at once
    bool keep_headers = true;  // false: HttpResponse::headers stays empty (a caller that reads only the body)
};

struct HttpResponse {
    long status = 0;
    std::map<std::string, std::string> headers;  // lower-case names, last value wins
    std::string body;
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

using CURL = void;  // as curl.h has it

// Idle easy handles, each keeping its connections open for the next request.
class CurlPool {
public:
    ~CurlPool();
    CURL* take();
    void give(CURL* h);

private:
    std::mutex mu_;
    std::vector<CURL*> free_;
};

class HttpClient {
public:
    explicit HttpClient(TlsFiles tls = {});
    ~HttpClient();

    // Any HTTP status is an answer; only transport failures throw: HERD_ERR_TIMEOUT when the
    // timeout passed, HERD_ERR_UNAVAILABLE otherwise (refused, reset, TLS, or req.cancel set).
    HttpResponse perform(const HttpRequest& req);

    // Streams the body to on_data as it arrives (on_data may throw: the transfer stops and the
    // exception propagates). Returns the status and headers; the body is not kept. A stream that
    // stays silent for `idle` counts as broken.
    HttpResponse stream(const HttpRequest& req, const std::function<void(std::string_view)>& on_data,
                        std::chrono::seconds idle = std::chrono::seconds(60));

    const TlsFiles& tls() const { return tls_; }

private:
    TlsFiles tls_;
    CurlPool pool_;
};

// Splits a byte stream into lines (without "\n", "\r\n" too) for line-delimited JSON and SSE.
class LineSplitter {
public:
    template <class F>
    void feed(std::string_view data, F&& on_line) {
        pending_.append(data);
        size_t start = 0;
        for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
            std::string_view line(pending_.data() + start, nl - start);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            on_line(line);
        }
        pending_.erase(0, start);
    }

private:
    std::string pending_;
};

// A server's answer as one line for an error message: whitespace runs (newlines included) become
// one space, cut to at most max bytes.
std::string excerpt(std::string_view body, size_t max = 200);
std::string url_escape(std::string_view raw);  // every byte but A-Z a-z 0-9 - . _ ~ is %XX
std::string base64(std::string_view raw);
std::string unbase64(std::string_view b64);  // throws sdk::Error(INTERNAL) on malformed input

}  // namespace herd::net

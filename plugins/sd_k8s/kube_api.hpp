// How sd_k8s reaches an API server — from explicit keys, a kubeconfig (a chosen or the current
// context) or the in-cluster service account — and the two calls discovery needs: a paginated
// list and a streamed watch. Bearer token files are re-read for every request (service-account
// tokens rotate). Reference: kubernetes-api.md.
#pragma once

#include "curl_http.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace herd::sd_k8s {

struct Connection {
    std::string server;  // https://host:port
    net::TlsFiles tls;
    std::string token, token_file;   // token wins over token_file
    std::string username, password;  // basic auth
    std::string default_namespace;   // the context's or the service account's
    std::string described;           // where it came from, for messages ("kubeconfig x, context y")
};

// kubeconfig (YAML): the named context, or current-context when `context` is empty. Relative
// paths in it are relative to the file. Throws sdk::Error(INVALID_ARGUMENT) saying what is wrong.
Connection from_kubeconfig(const std::string& path, const std::string& context);
// In a pod: KUBERNETES_SERVICE_HOST/PORT and the service account files (under sa_dir, normally
// /var/run/secrets/kubernetes.io/serviceaccount). nullopt when not in a cluster.
std::optional<Connection> in_cluster(const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

class KubeClient {
public:
    KubeClient(Connection c, std::chrono::milliseconds timeout);

    struct ListResult {
        nlohmann::json items = nlohmann::json::array();
        std::string resource_version;
    };
    // GET path?query (+ limit/continue pages). Throws sdk::Error: UNAVAILABLE/TIMEOUT (transport,
    // 5xx), PERMISSION (401/403), COMPACTED (410), INVALID_ARGUMENT (other 4xx, malformed JSON).
    // `cancel` (optional) ends the list early when set, as it does a watch.
    ListResult list(const std::string& path, const std::string& query, const std::atomic<bool>* cancel = nullptr);

    // GET path?watch=1&... streamed: on_event gets each event object. Returns normally when the
    // server ends the stream (timeoutSeconds); throws as list() does, and on a malformed line.
    // A stream silent for `idle` counts as broken: quiet collections send nothing for minutes,
    // so idle must outlast the watch's timeoutSeconds.
    void watch(const std::string& path, const std::string& query, const std::function<void(const nlohmann::json&)>& on_event,
               const std::atomic<bool>& stop, std::chrono::seconds idle);

    const Connection& connection() const { return c_; }

private:
    net::HttpRequest request(const std::string& url) const;
    [[noreturn]] void fail(long status, const std::string& url, const std::string& body) const;
    Connection c_;
    std::chrono::milliseconds timeout_;
    net::HttpClient http_;
};

std::string query_escape(const std::string& s);

}  // namespace herd::sd_k8s

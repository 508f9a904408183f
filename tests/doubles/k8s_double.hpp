// A Kubernetes API server as far as discovery sees it (../shared/reference/kubernetes-api.md):
// lists (with labelSelector, fieldSelector, limit/continue) and watches (chunked, one JSON event
// per line; from a resourceVersion exactly, or synthetic ADDED without one; bookmarks;
// timeoutSeconds) for pods, services, endpoints, endpointslices and nodes, with bearer-token auth.
// One resourceVersion counter for everything; history can be compacted so an old version expires.
// Faults tests need, on demand: 410 as an HTTP status or as an in-stream ERROR event, a stream cut
// mid-line, slow answers, 401s, malformed JSON, a stream of bookmarks only.
#pragma once

#include "http_double.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace herd::test {

class K8sDouble {
public:
    struct Options {
        std::string token;  // when set, requests need "Authorization: Bearer <token>"
        std::chrono::milliseconds bookmark_interval{0};  // 0: no bookmarks unless asked for
    };
    K8sDouble();
    explicit K8sDouble(Options o);
    ~K8sDouble();

    std::string url() const { return server_->url(); }
    HttpDouble& server() { return *server_; }

    // collection: "pods", "services", "endpoints", "endpointslices", "nodes". apply() adds or
    // replaces (by namespace/name) and returns the new resourceVersion; remove() deletes.
    std::string apply(const std::string& collection, nlohmann::json object);
    std::string remove(const std::string& collection, const std::string& ns, const std::string& name);
    void compact();  // forget the history: watches from any version before now get 410

    // Faults, each for the next watch (or list) only.
    enum class Expire { http_status, in_stream };
    void expire_next_watch(Expire how);
    void cut_next_watch_mid_line();   // one event, then half a line, then the connection drops
    void bookmarks_only_next_watch(); // only BOOKMARK events until the watch times out
    void malformed_next_list();
    void unauthorized_next(int requests);
    void slow(std::chrono::milliseconds delay);  // every answer waits this long first
    void set_token(std::string token);           // a rotated token: the old one gets 401

    size_t lists() const;
    size_t watches() const;
    bool saw_query(const std::string& part) const;  // some list or watch had this in its query

private:
    struct State;
    void handle(const DoubleRequest& req, DoubleReply& reply);
    std::unique_ptr<State> state_;
    std::unique_ptr<HttpDouble> server_;
};

}  // namespace herd::test

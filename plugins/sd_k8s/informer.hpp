// One Kubernetes collection kept current: list, then watch from the list's resourceVersion with
// bookmarks; a watch ended by timeoutSeconds resumes from the last version seen; a broken one
// resumes after a backoff; an expired version (HTTP 410, or an ERROR event with code 410) drops
// everything and lists again. The informer runs on the caller's thread (run() returns on stop).
#pragma once

#include "kube_api.hpp"
#include "targets.hpp"

#include <herd/sdk/kv_support.hpp>

#include <functional>
#include <string>

namespace herd::sd_k8s {

struct InformerHandler {
    std::function<void(Objects all)> relisted;                             // after every (re)list
    std::function<void(const std::string& type, const json& obj)> event;  // ADDED, MODIFIED, DELETED
    std::function<void(const std::string& message)> error;                // each failure; it retries
    std::function<void(const std::string& message)> info;                 // expected events (a relist after 410)
};

class Informer {
public:
    // path: e.g. /api/v1/namespaces/ns/pods; selectors: "labelSelector=...&fieldSelector=..." or "".
    Informer(KubeClient& client, std::string path, std::string selectors, int watch_timeout_s, InformerHandler h);
    void run(sdk::WatchSet::Stop& stop);
    const std::string& path() const { return path_; }

private:
    KubeClient& client_;
    std::string path_, selectors_;
    int watch_timeout_s_;
    InformerHandler h_;
};

}  // namespace herd::sd_k8s

// sd_k8s' configuration: herd's keys and Prometheus' kubernetes_sd_configs keys (namespaces with
// own_namespace, selectors, attach_metadata), validated with Prometheus' rules and messages.
#pragma once

#include "kube_api.hpp"

#include <herd/sdk/host.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace herd::sd_k8s {

struct Selector {
    std::string label, field;
};

// attach_metadata: what each target also gets (Prometheus 3.x).
struct AttachMetadata {
    bool node = false;        // pod, endpoints, endpointslice: the node's labels
    bool ns = false;          // every role but node: the namespace's labels
    bool deployment = false;  // pod_deployment_name (through the pod's ReplicaSet)
    bool job = false;         // pod_job_name
    bool cronjob = false;     // pod_cronjob_name (through the pod's Job)
};

struct Options {
    std::string role;
    std::vector<std::string> namespaces;     // what is watched; empty = all namespaces
    bool namespaces_listed = false;          // names or own_namespace given: one discoverer per namespace
    std::map<std::string, Selector> selectors;  // by the role of the objects they select ("pod", "node", ...)
    AttachMetadata attach;
    Connection conn;
    std::chrono::milliseconds timeout{10000};
    int watch_timeout_s = 300;
    bool shortcut = false;  // service / pod_selector / port: one port per address
    std::string port;       // name or number
    bool ready_only = false;
};

Options parse_options(const sdk::CreateContext& ctx);

// Prometheus' getNamespaces: the names, plus the pod's own namespace with own_namespace; empty
// (all) when neither is given.
std::vector<std::string> namespaces_to_watch(const std::vector<std::string>& names, bool own_namespace,
                                             const std::string& own);

}  // namespace herd::sd_k8s

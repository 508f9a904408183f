// Kubernetes objects to Prometheus target groups, label for label as Prometheus' kubernetes_sd
// makes them (reference: prometheus-sd-labels.md), so relabelling rules carry over unchanged.
// Pure functions over JSON objects: the informers keep the objects, these build the groups.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>

namespace herd::sd_k8s {

using nlohmann::json;

// Objects by "namespace/name" (nodes by name), as the informers cache them.
using Objects = std::map<std::string, json>;

// What a role looks up beside its own objects. The endpoints roles always have pods and
// services; the rest is attach_metadata and is set only when configured (Prometheus' rules).
struct Related {
    const Objects* pods = nullptr;
    const Objects* services = nullptr;
    const Objects* nodes = nullptr;        // attach_metadata.node: the node's labels on each target
    const Objects* namespaces = nullptr;   // attach_metadata.namespace: the namespace's labels
    const Objects* replicasets = nullptr;  // attach_metadata.deployment: pod_deployment_name
    const Objects* jobs = nullptr;         // attach_metadata.cronjob: pod_cronjob_name
    bool job_names = false;                // attach_metadata.job: pod_job_name
    // With a namespace list Prometheus runs one discoverer per namespace, each with its own pod
    // informer: a targetRef resolves only to a pod in the endpoints' own namespace.
    bool pods_in_own_namespace = false;
};

std::string sanitize_label_name(std::string_view name);  // [^a-zA-Z0-9_] -> _
std::string object_key(const json& obj);                  // "ns/name", or "name" without a namespace

// Each returns {"source": ..., "targets": [...], "labels": {...}}; a group without targets when
// the object yields none (a pod without an IP, a node without a usable address).
json pod_group(const json& pod, const Related& related = {});
json service_group(const json& service, const Related& related = {});
json endpoints_group(const json& endpoints, const Related& related);
json endpointslice_group(const json& slice, const Related& related);
json node_group(const json& node);
json ingress_group(const json& ingress, const Related& related = {});

// The node names a primary object's targets refer to (for rebuilding after a node event).
bool refers_to_node(std::string_view role, const json& obj, const std::string& node);

// The source of the group an object of `role` makes ("pod/ns/name", "svc/ns/name", ...), also
// for deleted objects (an empty group with this source withdraws the old one).
std::string source_of(std::string_view role, const json& obj);

}  // namespace herd::sd_k8s

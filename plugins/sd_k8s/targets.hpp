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

// What the endpoints and endpointslice roles look up beside their own objects.
struct Related {
    const Objects* pods = nullptr;
    const Objects* services = nullptr;
};

std::string sanitize_label_name(std::string_view name);  // [^a-zA-Z0-9_] -> _
std::string object_key(const json& obj);                  // "ns/name", or "name" without a namespace

// Each returns {"source": ..., "targets": [...], "labels": {...}}; a group without targets when
// the object yields none (a pod without an IP, a node without a usable address).
json pod_group(const json& pod);
json service_group(const json& service);
json endpoints_group(const json& endpoints, const Related& related);
json endpointslice_group(const json& slice, const Related& related);
json node_group(const json& node);

// The source of the group an object of `role` makes ("pod/ns/name", "svc/ns/name", ...), also
// for deleted objects (an empty group with this source withdraws the old one).
std::string source_of(std::string_view role, const json& obj);

}  // namespace herd::sd_k8s

#include "targets.hpp"

#include "json_access.hpp"
#include "target_labels.hpp"

#include <algorithm>
#include <set>
#include <vector>

namespace herd::sd_k8s {

namespace {

const std::string P = "__meta_kubernetes_";

using jsonq::arr;
using jsonq::obj;
using jsonq::str;

std::string num(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return "";
    return std::to_string(it->get<int64_t>());
}
using targets::join_host_port;
std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// <role>_name, <role>_label_*, <role>_labelpresent_*, <role>_annotation_*, <role>_annotationpresent_*.
void add_object_meta(json& labels, const json& meta, const std::string& role) {
    labels[P + role + "_name"] = str(meta, "name");
    for (const char* kind : {"label", "annotation"}) {
        const json& m = obj(meta, kind == std::string("label") ? "labels" : "annotations");
        for (auto it = m.begin(); it != m.end(); ++it) {
            const std::string ln = sanitize_label_name(it.key());
            labels[P + role + "_" + kind + "_" + ln] = it->is_string() ? it->get<std::string>() : it->dump();
            labels[P + role + "_" + kind + "present_" + ln] = "true";
        }
    }
}

std::string pod_ready(const json& pod) {
    for (const auto& c : arr(obj(pod, "status"), "conditions"))
        if (str(c, "type") == "Ready") return lower(str(c, "status"));
    return "unknown";
}

json pod_labels(const json& pod) {
    const json& meta = obj(pod, "metadata");
    const json& status = obj(pod, "status");
    json l = json::object();
    l[P + "pod_ip"] = str(status, "podIP");
    l[P + "pod_ready"] = pod_ready(pod);
    l[P + "pod_phase"] = str(status, "phase");
    l[P + "pod_node_name"] = str(obj(pod, "spec"), "nodeName");
    l[P + "pod_host_ip"] = str(status, "hostIP");
    l[P + "pod_uid"] = str(meta, "uid");
    add_object_meta(l, meta, "pod");
    for (const auto& o : arr(meta, "ownerReferences"))
        if (o.value("controller", false)) {
            if (!str(o, "kind").empty()) l[P + "pod_controller_kind"] = str(o, "kind");
            if (!str(o, "name").empty()) l[P + "pod_controller_name"] = str(o, "name");
            break;
        }
    return l;
}

json service_labels(const json& svc) {
    json l = json::object();
    l[P + "namespace"] = str(obj(svc, "metadata"), "namespace");
    add_object_meta(l, obj(svc, "metadata"), "service");
    return l;
}

void merge(json& into, const json& from) {
    for (auto it = from.begin(); it != from.end(); ++it) into[it.key()] = *it;
}

// Containers then init containers, with whether each is an init container.
std::vector<std::pair<const json*, bool>> containers(const json& pod) {
    std::vector<std::pair<const json*, bool>> out;
    for (const auto& c : arr(obj(pod, "spec"), "containers")) out.emplace_back(&c, false);
    for (const auto& c : arr(obj(pod, "spec"), "initContainers")) out.emplace_back(&c, true);
    return out;
}

std::string container_id(const json& pod, const json& c, bool init) {
    for (const auto& s : arr(obj(pod, "status"), init ? "initContainerStatuses" : "containerStatuses"))
        if (str(s, "name") == str(c, "name")) return str(s, "containerID");
    return "";
}

const json* find_pod(const Related& r, const json& target_ref, const std::string& fallback_ns) {
    if (!r.pods || !target_ref.is_object() || str(target_ref, "kind") != "Pod") return nullptr;
    std::string ns = str(target_ref, "namespace");
    if (ns.empty()) ns = fallback_ns;
    auto it = r.pods->find(ns + "/" + str(target_ref, "name"));
    return it == r.pods->end() ? nullptr : &it->second;
}

// The labels of the container port a target of the endpoints roles stands for.
void container_port_labels(json& t, const json& c, const json& cp, int64_t port, const std::string& protocol, bool init) {
    t[P + "pod_container_name"] = str(c, "name");
    t[P + "pod_container_image"] = str(c, "image");
    t[P + "pod_container_port_name"] = str(cp, "name");
    t[P + "pod_container_port_number"] = std::to_string(port);
    t[P + "pod_container_port_protocol"] = protocol;
    t[P + "pod_container_init"] = init ? "true" : "false";
}

// The endpoints and endpointslice roles: a target backed by a pod gets the pod's labels and,
// for the container port it matches, the container's; every other container port of the pods
// seen gets a target of its own (Prometheus does the same, so unlisted ports stay scrapeable).
struct SeenPods {
    std::map<std::string, std::pair<const json*, std::set<int64_t>>> pods;  // key -> pod, ports covered

    void decorate(json& target, const json& pod, int64_t port, const std::string& protocol) {
        merge(target, pod_labels(pod));
        for (auto [c, init] : containers(pod)) {
            bool matched = false;
            for (const auto& cp : arr(*c, "ports"))
                if (cp.value("containerPort", int64_t(-1)) == port) {
                    container_port_labels(target, *c, cp, port, protocol, init);
                    matched = true;
                    break;
                }
            if (matched) break;
        }
        auto& entry = pods[object_key(pod)];
        entry.first = &pod;
        entry.second.insert(port);
    }

    void add_uncovered(json& targets) const {
        for (const auto& [key, entry] : pods) {
            const json& pod = *entry.first;
            const std::string ip = str(obj(pod, "status"), "podIP");
            if (ip.empty()) continue;
            for (auto [c, init] : containers(pod))
                for (const auto& cp : arr(*c, "ports")) {
                    const int64_t port = cp.value("containerPort", int64_t(0));
                    if (entry.second.count(port)) continue;
                    json t = pod_labels(pod);
                    t["__address__"] = join_host_port(ip, std::to_string(port));
                    container_port_labels(t, *c, cp, port, cp.contains("protocol") ? str(cp, "protocol") : "TCP", init);
                    targets.push_back(std::move(t));
                }
        }
    }
};

json group(const std::string& source) { return json{{"source", source}, {"targets", json::array()}, {"labels", json::object()}}; }

}  // namespace

std::string sanitize_label_name(std::string_view name) { return targets::sanitize_label_name(name); }

std::string object_key(const json& o) {
    const json& meta = obj(o, "metadata");
    const std::string ns = str(meta, "namespace");
    return ns.empty() ? str(meta, "name") : ns + "/" + str(meta, "name");
}

std::string source_of(std::string_view role, const json& o) {
    const std::string key = object_key(o);
    if (role == "pod") return "pod/" + key;
    if (role == "service") return "svc/" + key;
    if (role == "endpoints") return "endpoints/" + key;
    if (role == "endpointslice") return "endpointslice/" + key;
    return "node/" + key;
}

json pod_group(const json& pod) {
    json g = group(source_of("pod", pod));
    const std::string ip = str(obj(pod, "status"), "podIP");
    if (ip.empty()) return g;  // not scheduled or not started yet: nothing to scrape
    g["labels"] = pod_labels(pod);
    g["labels"][P + "namespace"] = str(obj(pod, "metadata"), "namespace");
    for (auto [c, init] : containers(pod)) {
        json base{{P + "pod_container_name", str(*c, "name")},
                  {P + "pod_container_id", container_id(pod, *c, init)},
                  {P + "pod_container_image", str(*c, "image")},
                  {P + "pod_container_init", init ? "true" : "false"}};
        const json& ports = arr(*c, "ports");
        if (ports.empty()) {
            json t = base;
            t["__address__"] = ip;
            g["targets"].push_back(std::move(t));
            continue;
        }
        for (const auto& p : ports) {
            json t = base;
            const std::string port = num(p, "containerPort");
            t["__address__"] = join_host_port(ip, port);
            t[P + "pod_container_port_number"] = port;
            t[P + "pod_container_port_name"] = str(p, "name");
            t[P + "pod_container_port_protocol"] = p.contains("protocol") ? str(p, "protocol") : "TCP";
            g["targets"].push_back(std::move(t));
        }
    }
    return g;
}

json service_group(const json& svc) {
    json g = group(source_of("service", svc));
    g["labels"] = service_labels(svc);
    const json& meta = obj(svc, "metadata");
    const json& spec = obj(svc, "spec");
    const std::string type = str(spec, "type").empty() ? "ClusterIP" : str(spec, "type");
    for (const auto& p : arr(spec, "ports")) {
        json t;
        t["__address__"] = join_host_port(str(meta, "name") + "." + str(meta, "namespace") + ".svc", num(p, "port"));
        t[P + "service_port_name"] = str(p, "name");
        t[P + "service_port_number"] = num(p, "port");
        t[P + "service_port_protocol"] = p.contains("protocol") ? str(p, "protocol") : "TCP";
        t[P + "service_type"] = type;
        if (type == "ExternalName") t[P + "service_external_name"] = str(spec, "externalName");
        else t[P + "service_cluster_ip"] = str(spec, "clusterIP");
        if (type == "LoadBalancer") {
            std::string lb = str(spec, "loadBalancerIP");
            const json& ingress = arr(obj(obj(svc, "status"), "loadBalancer"), "ingress");
            if (lb.empty() && !ingress.empty()) lb = str(ingress[0], "ip");
            t[P + "service_loadbalancer_ip"] = lb;
        }
        g["targets"].push_back(std::move(t));
    }
    return g;
}

json endpoints_group(const json& eps, const Related& related) {
    json g = group(source_of("endpoints", eps));
    const json& meta = obj(eps, "metadata");
    const std::string ns = str(meta, "namespace");
    g["labels"][P + "namespace"] = ns;
    add_object_meta(g["labels"], meta, "endpoints");
    if (related.services)
        if (auto it = related.services->find(ns + "/" + str(meta, "name")); it != related.services->end())
            merge(g["labels"], service_labels(it->second));
    SeenPods seen;
    for (const auto& subset : arr(eps, "subsets")) {
        for (const auto& port : arr(subset, "ports")) {
            const std::string protocol = port.contains("protocol") ? str(port, "protocol") : "TCP";
            for (const char* which : {"addresses", "notReadyAddresses"}) {
                const bool ready = which == std::string("addresses");
                for (const auto& addr : arr(subset, which)) {
                    json t;
                    t["__address__"] = join_host_port(str(addr, "ip"), num(port, "port"));
                    t[P + "endpoint_port_name"] = str(port, "name");
                    t[P + "endpoint_port_protocol"] = protocol;
                    t[P + "endpoint_ready"] = ready ? "true" : "false";
                    if (addr.contains("nodeName") && addr["nodeName"].is_string()) t[P + "endpoint_node_name"] = str(addr, "nodeName");
                    if (!str(addr, "hostname").empty()) t[P + "endpoint_hostname"] = str(addr, "hostname");
                    const json& ref = obj(addr, "targetRef");
                    if (!ref.empty()) {
                        t[P + "endpoint_address_target_kind"] = str(ref, "kind");
                        t[P + "endpoint_address_target_name"] = str(ref, "name");
                    }
                    if (const json* pod = find_pod(related, ref, ns))
                        seen.decorate(t, *pod, port.value("port", int64_t(0)), protocol);
                    g["targets"].push_back(std::move(t));
                }
            }
        }
    }
    seen.add_uncovered(g["targets"]);
    return g;
}

json endpointslice_group(const json& slice, const Related& related) {
    json g = group(source_of("endpointslice", slice));
    const json& meta = obj(slice, "metadata");
    const std::string ns = str(meta, "namespace");
    g["labels"][P + "namespace"] = ns;
    g["labels"][P + "endpointslice_address_type"] = str(slice, "addressType");
    add_object_meta(g["labels"], meta, "endpointslice");
    const std::string svc = str(obj(meta, "labels"), "kubernetes.io/service-name");
    if (related.services && !svc.empty())
        if (auto it = related.services->find(ns + "/" + svc); it != related.services->end()) merge(g["labels"], service_labels(it->second));
    SeenPods seen;
    for (const auto& ep : arr(slice, "endpoints")) {
        for (const auto& port : arr(slice, "ports")) {
            for (const auto& a : arr(ep, "addresses")) {
                const std::string addr = a.is_string() ? a.get<std::string>() : "";
                json t;
                const bool has_port = port.contains("port") && port["port"].is_number_integer();
                t["__address__"] = has_port ? join_host_port(addr, num(port, "port")) : addr;
                if (port.contains("name") && port["name"].is_string()) t[P + "endpointslice_port_name"] = str(port, "name");
                if (port.contains("protocol") && port["protocol"].is_string()) t[P + "endpointslice_port_protocol"] = str(port, "protocol");
                if (has_port) t[P + "endpointslice_port"] = num(port, "port");
                if (port.contains("appProtocol") && port["appProtocol"].is_string()) t[P + "endpointslice_port_app_protocol"] = str(port, "appProtocol");
                const json& cond = obj(ep, "conditions");
                for (const char* c : {"ready", "serving", "terminating"})
                    if (cond.contains(c) && cond[c].is_boolean())
                        t[P + "endpointslice_endpoint_conditions_" + c] = cond[c].get<bool>() ? "true" : "false";
                if (ep.contains("hostname") && ep["hostname"].is_string()) t[P + "endpointslice_endpoint_hostname"] = str(ep, "hostname");
                const json& ref = obj(ep, "targetRef");
                if (!ref.empty()) {
                    t[P + "endpointslice_address_target_kind"] = str(ref, "kind");
                    t[P + "endpointslice_address_target_name"] = str(ref, "name");
                }
                if (ep.contains("nodeName") && ep["nodeName"].is_string()) t[P + "endpointslice_endpoint_node_name"] = str(ep, "nodeName");
                if (ep.contains("zone") && ep["zone"].is_string()) t[P + "endpointslice_endpoint_zone"] = str(ep, "zone");
                if (const json* pod = find_pod(related, ref, ns))
                    seen.decorate(t, *pod, port.value("port", int64_t(0)), port.contains("protocol") ? str(port, "protocol") : "TCP");
                g["targets"].push_back(std::move(t));
            }
        }
    }
    seen.add_uncovered(g["targets"]);
    return g;
}

json node_group(const json& node) {
    json g = group(source_of("node", node));
    const json& meta = obj(node, "metadata");
    const json& status = obj(node, "status");
    g["labels"][P + "node_provider_id"] = str(obj(node, "spec"), "providerID");
    add_object_meta(g["labels"], meta, "node");
    for (const auto& c : arr(status, "conditions"))
        g["labels"][P + "node_condition_" + sanitize_label_name(lower(str(c, "type")))] = lower(str(c, "status"));
    // The first address of each type; the target uses the best type present.
    std::map<std::string, std::string> first;
    for (const auto& a : arr(status, "addresses"))
        if (!first.count(str(a, "type"))) first[str(a, "type")] = str(a, "address");
    std::string address;
    for (const char* type : {"InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"})
        if (auto it = first.find(type); it != first.end() && !it->second.empty()) {
            address = it->second;
            break;
        }
    if (address.empty()) return g;  // nothing to scrape the kubelet at
    const std::string port = num(obj(obj(status, "daemonEndpoints"), "kubeletEndpoint"), "Port");
    json t;
    t["__address__"] = join_host_port(address, port.empty() ? "10250" : port);
    t["instance"] = str(meta, "name");
    for (const auto& [type, a] : first) t[sanitize_label_name(P + "node_address_" + type)] = a;
    g["targets"].push_back(std::move(t));
    return g;
}

}  // namespace herd::sd_k8s

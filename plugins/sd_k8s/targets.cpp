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
bool has_string(const json& j, const char* key) { return j.is_object() && j.contains(key) && j[key].is_string(); }
using targets::join_host_port;
std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}
const json* find(const Objects* objects, const std::string& key) {
    if (!objects) return nullptr;
    auto it = objects->find(key);
    return it == objects->end() ? nullptr : &it->second;
}

// <resource>_label_*, _labelpresent_*, _annotation_*, _annotationpresent_*.
void add_labels_and_annotations(json& labels, const json& meta, const std::string& resource) {
    for (const char* kind : {"label", "annotation"}) {
        const json& m = obj(meta, kind == std::string("label") ? "labels" : "annotations");
        for (auto it = m.begin(); it != m.end(); ++it) {
            const std::string ln = sanitize_label_name(it.key());
            labels[P + resource + "_" + kind + "_" + ln] = it->is_string() ? it->get<std::string>() : it->dump();
            labels[P + resource + "_" + kind + "present_" + ln] = "true";
        }
    }
}

// <role>_name plus the labels and annotations.
void add_object_meta(json& labels, const json& meta, const std::string& role) {
    labels[P + role + "_name"] = str(meta, "name");
    add_labels_and_annotations(labels, meta, role);
}

void merge(json& into, const json& from) {
    for (auto it = from.begin(); it != from.end(); ++it) into[it.key()] = *it;
}

// attach_metadata.node: the node's name, labels and annotations (nothing when it is not known).
void add_node_labels(json& labels, const Related& r, const std::string* node_name) {
    if (!r.nodes || !node_name) return;
    if (const json* node = find(r.nodes, *node_name)) add_object_meta(labels, obj(*node, "metadata"), "node");
}

// attach_metadata.namespace: the namespace's labels and annotations (its name is there already).
void add_namespace_labels(json& labels, const Related& r, const std::string& ns) {
    if (!r.namespaces) return;
    if (const json* n = find(r.namespaces, ns)) add_labels_and_annotations(labels, obj(*n, "metadata"), "namespace");
}

const json* controller_of(const json& o) {
    for (const auto& ref : arr(obj(o, "metadata"), "ownerReferences"))
        if (ref.value("controller", false)) return &ref;
    return nullptr;
}

std::string pod_ready(const json& pod) {
    for (const auto& c : arr(obj(pod, "status"), "conditions"))
        if (str(c, "type") == "Ready") return lower(str(c, "status"));
    return "unknown";
}

json pod_labels(const json& pod, const Related& r) {
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
    const json* owner = controller_of(pod);
    if (!owner) return l;
    const std::string kind = str(*owner, "kind"), name = str(*owner, "name"), ns = str(meta, "namespace");
    if (!kind.empty()) l[P + "pod_controller_kind"] = kind;
    if (!name.empty()) l[P + "pod_controller_name"] = name;
    // The convenience labels: the Deployment behind a ReplicaSet, the Job, the CronJob behind a Job.
    if (kind == "ReplicaSet") {
        if (const json* rs = find(r.replicasets, ns + "/" + name))
            if (const json* d = controller_of(*rs); d && str(*d, "kind") == "Deployment") l[P + "pod_deployment_name"] = str(*d, "name");
    } else if (kind == "Job") {
        if (r.job_names) l[P + "pod_job_name"] = name;
        if (const json* job = find(r.jobs, ns + "/" + name))
            if (const json* cj = controller_of(*job); cj && str(*cj, "kind") == "CronJob") l[P + "pod_cronjob_name"] = str(*cj, "name");
    }
    return l;
}

json service_labels(const json& svc) {
    json l = json::object();
    l[P + "namespace"] = str(obj(svc, "metadata"), "namespace");
    add_object_meta(l, obj(svc, "metadata"), "service");
    return l;
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

// A targetRef names the pod by namespace and name; one without a namespace resolves to nothing
// (Prometheus looks up "<namespace>/<name>" as given).
const json* find_pod(const Related& r, const json& target_ref, const std::string& own_ns) {
    if (!r.pods || !target_ref.is_object() || str(target_ref, "kind") != "Pod") return nullptr;
    const std::string ns = str(target_ref, "namespace");
    if (ns.empty() || (r.pods_in_own_namespace && ns != own_ns)) return nullptr;
    return find(r.pods, ns + "/" + str(target_ref, "name"));
}

void container_port_labels(json& t, const json& c, const json& cp, const std::string& port, const std::string& protocol, bool init) {
    t[P + "pod_container_name"] = str(c, "name");
    t[P + "pod_container_image"] = str(c, "image");
    t[P + "pod_container_port_name"] = str(cp, "name");
    t[P + "pod_container_port_number"] = port;
    t[P + "pod_container_port_protocol"] = protocol;
    t[P + "pod_container_init"] = init ? "true" : "false";
}

// The endpoints roles: a target backed by a pod gets the pod's labels and, for the container
// port of its number, the container's; every other container port of the pods seen gets a target
// of its own (so unlisted ports stay scrapeable). As in Prometheus, the match is by number only
// and a later container with the same number wins; the endpoints role labels the protocol of
// the endpoint's port, the endpointslice role that of the container's.
struct SeenPods {
    bool protocol_from_container = false;
    std::map<std::string, std::pair<const json*, std::set<int64_t>>> pods;  // key -> pod, ports covered

    void decorate(json& target, const json& pod, const Related& r, const json& port) {
        merge(target, pod_labels(pod, r));
        const bool has_port = port.contains("port") && port["port"].is_number_integer();
        const int64_t number = has_port ? port["port"].get<int64_t>() : -1;
        for (auto [c, init] : containers(pod))
            for (const auto& cp : arr(*c, "ports")) {
                if (!has_port || cp.value("containerPort", int64_t(-1)) != number) continue;
                container_port_labels(target, *c, cp, std::to_string(number),
                                      protocol_from_container ? str(cp, "protocol") : str(port, "protocol"), init);
                break;  // this container's first port of that number; later containers may still match
            }
        auto& entry = pods[object_key(pod)];
        entry.first = &pod;
        if (has_port) entry.second.insert(number);
    }

    void add_uncovered(json& targets, const Related& r) const {
        for (const auto& [key, entry] : pods) {
            const json& pod = *entry.first;
            const std::string ip = str(obj(pod, "status"), "podIP");
            if (ip.empty()) continue;
            for (auto [c, init] : containers(pod))
                for (const auto& cp : arr(*c, "ports")) {
                    const int64_t port = cp.value("containerPort", int64_t(0));
                    if (entry.second.count(port)) continue;
                    json t = pod_labels(pod, r);
                    t["__address__"] = join_host_port(ip, std::to_string(port));
                    container_port_labels(t, *c, cp, std::to_string(port), str(cp, "protocol"), init);
                    targets.push_back(std::move(t));
                }
        }
    }
};

json group(const std::string& source) { return json{{"source", source}, {"targets", json::array()}, {"labels", json::object()}}; }

// A dual-stack Service has one slice per family; Prometheus keeps the primary family's only.
bool non_primary_family(const json* svc, const json& slice) {
    if (!svc) return false;
    const json& spec = obj(*svc, "spec");
    const std::string policy = str(spec, "ipFamilyPolicy");
    if (policy != "PreferDualStack" && policy != "RequireDualStack") return false;
    const json& families = arr(spec, "ipFamilies");
    if (families.empty() || !families[0].is_string()) return false;
    return str(slice, "addressType") != families[0].get<std::string>();
}

bool matches_hostname_pattern(const std::string& pattern, const std::string& host) {
    if (pattern == host) return true;
    auto split = [](const std::string& s) {
        std::vector<std::string> parts;
        size_t start = 0;
        for (size_t dot; (dot = s.find('.', start)) != std::string::npos; start = dot + 1) parts.push_back(s.substr(start, dot - start));
        parts.push_back(s.substr(start));
        return parts;
    };
    const auto p = split(pattern), h = split(host);
    if (p.empty() || p[0] != "*" || p.size() != h.size()) return false;
    for (size_t i = 1; i < p.size(); ++i)
        if (p[i] != h[i]) return false;
    return true;
}

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
    if (role == "ingress") return "ingress/" + key;
    return "node/" + key;
}

json pod_group(const json& pod, const Related& r) {
    json g = group(source_of("pod", pod));
    const std::string ip = str(obj(pod, "status"), "podIP");
    if (ip.empty()) return g;  // not scheduled or not started yet: nothing to scrape
    const std::string node = str(obj(pod, "spec"), "nodeName");
    if (r.nodes && !find(r.nodes, node)) return g;  // attach_metadata.node: wait for its node
    const std::string ns = str(obj(pod, "metadata"), "namespace");
    g["labels"] = pod_labels(pod, r);
    g["labels"][P + "namespace"] = ns;
    add_node_labels(g["labels"], r, &node);
    add_namespace_labels(g["labels"], r, ns);
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
            t[P + "pod_container_port_protocol"] = str(p, "protocol");
            g["targets"].push_back(std::move(t));
        }
    }
    return g;
}

json service_group(const json& svc, const Related& r) {
    json g = group(source_of("service", svc));
    g["labels"] = service_labels(svc);
    const json& meta = obj(svc, "metadata");
    const json& spec = obj(svc, "spec");
    add_namespace_labels(g["labels"], r, str(meta, "namespace"));
    const std::string type = str(spec, "type");
    // The load balancer's addresses as the current release reports them: every ingress IP,
    // comma-separated; the deprecated spec.loadBalancerIP only when there is none.
    std::string lb;
    for (const auto& ing : arr(obj(obj(svc, "status"), "loadBalancer"), "ingress"))
        if (!str(ing, "ip").empty()) lb += (lb.empty() ? "" : ",") + str(ing, "ip");
    if (lb.empty()) lb = str(spec, "loadBalancerIP");
    for (const auto& p : arr(spec, "ports")) {
        json t;
        t["__address__"] = join_host_port(str(meta, "name") + "." + str(meta, "namespace") + ".svc", num(p, "port"));
        t[P + "service_port_name"] = str(p, "name");
        t[P + "service_port_number"] = num(p, "port");
        t[P + "service_port_protocol"] = str(p, "protocol");
        t[P + "service_type"] = type;
        if (type == "ExternalName") t[P + "service_external_name"] = str(spec, "externalName");
        else t[P + "service_cluster_ip"] = str(spec, "clusterIP");
        if (type == "LoadBalancer") t[P + "service_loadbalancer_ip"] = lb;
        g["targets"].push_back(std::move(t));
    }
    return g;
}

json endpoints_group(const json& eps, const Related& related) {
    json g = group(source_of("endpoints", eps));
    const json& meta = obj(eps, "metadata");
    const std::string ns = str(meta, "namespace");
    g["labels"][P + "namespace"] = ns;
    if (const json* svc = find(related.services, ns + "/" + str(meta, "name"))) merge(g["labels"], service_labels(*svc));
    add_object_meta(g["labels"], meta, "endpoints");
    add_namespace_labels(g["labels"], related, ns);
    SeenPods seen;
    for (const auto& subset : arr(eps, "subsets")) {
        for (const auto& port : arr(subset, "ports")) {
            for (const char* which : {"addresses", "notReadyAddresses"}) {
                const bool ready = which == std::string("addresses");
                for (const auto& addr : arr(subset, which)) {
                    json t;
                    t["__address__"] = join_host_port(str(addr, "ip"), num(port, "port"));
                    t[P + "endpoint_port_name"] = str(port, "name");
                    t[P + "endpoint_port_protocol"] = str(port, "protocol");
                    t[P + "endpoint_ready"] = ready ? "true" : "false";
                    const bool has_ref = addr.contains("targetRef") && addr["targetRef"].is_object();
                    const json& ref = obj(addr, "targetRef");
                    if (has_ref) {
                        t[P + "endpoint_address_target_kind"] = str(ref, "kind");
                        t[P + "endpoint_address_target_name"] = str(ref, "name");
                    }
                    std::string node_name;
                    const bool has_node = has_string(addr, "nodeName");
                    if (has_node) t[P + "endpoint_node_name"] = node_name = str(addr, "nodeName");
                    if (!str(addr, "hostname").empty()) t[P + "endpoint_hostname"] = str(addr, "hostname");
                    if (has_node) {
                        add_node_labels(t, related, &node_name);
                    } else if (has_ref && str(ref, "kind") == "Node") {
                        const std::string n = str(ref, "name");
                        add_node_labels(t, related, &n);
                    }
                    if (const json* pod = find_pod(related, ref, ns)) seen.decorate(t, *pod, related, port);
                    g["targets"].push_back(std::move(t));
                }
            }
        }
    }
    seen.add_uncovered(g["targets"], related);
    return g;
}

json endpointslice_group(const json& slice, const Related& related) {
    json g = group(source_of("endpointslice", slice));
    const json& meta = obj(slice, "metadata");
    const std::string ns = str(meta, "namespace");
    g["labels"][P + "namespace"] = ns;
    g["labels"][P + "endpointslice_address_type"] = str(slice, "addressType");
    add_object_meta(g["labels"], meta, "endpointslice");
    const json& slice_labels = obj(meta, "labels");
    const json* svc = has_string(slice_labels, "kubernetes.io/service-name")
                          ? find(related.services, ns + "/" + str(slice_labels, "kubernetes.io/service-name"))
                          : nullptr;
    if (svc) merge(g["labels"], service_labels(*svc));
    add_namespace_labels(g["labels"], related, ns);
    if (non_primary_family(svc, slice)) return g;  // the same endpoints again, in the other family
    SeenPods seen;
    seen.protocol_from_container = true;
    for (const auto& ep : arr(slice, "endpoints")) {
        for (const auto& port : arr(slice, "ports")) {
            for (const auto& a : arr(ep, "addresses")) {
                const std::string addr = a.is_string() ? a.get<std::string>() : "";
                json t;
                const bool has_port = port.contains("port") && port["port"].is_number_integer();
                t["__address__"] = has_port ? join_host_port(addr, num(port, "port")) : addr;
                if (has_string(port, "name")) t[P + "endpointslice_port_name"] = str(port, "name");
                if (has_string(port, "protocol")) t[P + "endpointslice_port_protocol"] = str(port, "protocol");
                if (has_port) t[P + "endpointslice_port"] = num(port, "port");
                if (has_string(port, "appProtocol")) t[P + "endpointslice_port_app_protocol"] = str(port, "appProtocol");
                const json& cond = obj(ep, "conditions");
                for (const char* c : {"ready", "serving", "terminating"})
                    if (cond.contains(c) && cond[c].is_boolean())
                        t[P + "endpointslice_endpoint_conditions_" + c] = cond[c].get<bool>() ? "true" : "false";
                if (has_string(ep, "hostname")) t[P + "endpointslice_endpoint_hostname"] = str(ep, "hostname");
                // An empty targetRef ({}) still says so: kind and name are there, empty.
                const bool has_ref = ep.contains("targetRef") && ep["targetRef"].is_object();
                const json& ref = obj(ep, "targetRef");
                if (has_ref) {
                    t[P + "endpointslice_address_target_kind"] = str(ref, "kind");
                    t[P + "endpointslice_address_target_name"] = str(ref, "name");
                }
                if (has_string(ep, "nodeName")) t[P + "endpointslice_endpoint_node_name"] = str(ep, "nodeName");
                if (has_string(ep, "zone")) t[P + "endpointslice_endpoint_zone"] = str(ep, "zone");
                const json& topology = obj(ep, "deprecatedTopology");
                for (auto it = topology.begin(); it != topology.end(); ++it) {
                    const std::string ln = sanitize_label_name(it.key());
                    t[P + "endpointslice_endpoint_topology_" + ln] = it->is_string() ? it->get<std::string>() : it->dump();
                    t[P + "endpointslice_endpoint_topology_present_" + ln] = "true";
                }
                if (has_ref && str(ref, "kind") == "Node") {
                    const std::string n = str(ref, "name");
                    add_node_labels(t, related, &n);
                } else if (has_string(ep, "nodeName")) {
                    const std::string n = str(ep, "nodeName");
                    add_node_labels(t, related, &n);
                }
                if (const json* pod = find_pod(related, ref, ns)) seen.decorate(t, *pod, related, port);
                g["targets"].push_back(std::move(t));
            }
        }
    }
    seen.add_uncovered(g["targets"], related);
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

json ingress_group(const json& ing, const Related& r) {
    json g = group(source_of("ingress", ing));
    const json& meta = obj(ing, "metadata");
    const json& spec = obj(ing, "spec");
    json& labels = g["labels"];
    labels[P + "namespace"] = str(meta, "namespace");
    if (has_string(spec, "ingressClassName")) labels[P + "ingress_class_name"] = str(spec, "ingressClassName");
    add_object_meta(labels, meta, "ingress");
    add_namespace_labels(labels, r, str(meta, "namespace"));
    std::vector<std::string> tls_hosts;
    for (const auto& tls : arr(spec, "tls"))
        for (const auto& h : arr(tls, "hosts"))
            if (h.is_string()) tls_hosts.push_back(h.get<std::string>());
    for (const auto& rule : arr(spec, "rules")) {
        const std::string host = str(rule, "host");
        std::string scheme = "http";
        for (const auto& pattern : tls_hosts)
            if (matches_hostname_pattern(pattern, host)) {
                scheme = "https";
                break;
            }
        // A rule without http paths is "/"; an http block with an empty path list has no target.
        std::vector<std::string> paths;
        if (!rule.contains("http") || !rule["http"].is_object()) {
            paths.push_back("/");
        } else {
            for (const auto& p : arr(rule["http"], "paths")) paths.push_back(str(p, "path").empty() ? "/" : str(p, "path"));
        }
        for (const auto& path : paths)
            g["targets"].push_back({{"__address__", host}, {P + "ingress_scheme", scheme}, {P + "ingress_host", host}, {P + "ingress_path", path}});
    }
    return g;
}

bool refers_to_node(std::string_view role, const json& o, const std::string& node) {
    if (role == "pod") return str(obj(o, "spec"), "nodeName") == node;
    if (role == "endpoints") {
        for (const auto& subset : arr(o, "subsets"))
            for (const char* which : {"addresses", "notReadyAddresses"})
                for (const auto& a : arr(subset, which))
                    if (str(a, "nodeName") == node || (str(obj(a, "targetRef"), "kind") == "Node" && str(obj(a, "targetRef"), "name") == node))
                        return true;
        return false;
    }
    if (role == "endpointslice") {
        for (const auto& ep : arr(o, "endpoints"))
            if (str(ep, "nodeName") == node || (str(obj(ep, "targetRef"), "kind") == "Node" && str(obj(ep, "targetRef"), "name") == node))
                return true;
        return false;
    }
    return false;
}

}  // namespace herd::sd_k8s

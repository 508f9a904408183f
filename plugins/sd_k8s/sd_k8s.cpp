// sd_k8s — discovery from the Kubernetes API, target groups as Prometheus' kubernetes_sd makes them.
//
//   [[discovery]]
//   name = "k8s"
//   plugin = "sd_k8s"
//   role = "endpoints"              # endpoints | endpointslice | pod | service | node | ingress
//   namespaces = ["monitoring"]     # default: all namespaces; or Prometheus' table:
//                                   # namespaces = { names = ["a"], own_namespace = true }
//   label_selector = "app=prometheus"            # for the role's own objects; or Prometheus':
//   field_selector = "metadata.name=prometheus"  # selectors = [{ role = "pod", label = "app=x" }]
//   attach_metadata = { node = true, namespace = true, deployment = true, job = true, cronjob = true }
//   kubeconfig = "~/.kube/config"   # with context = "..." (default: current-context);
//                                   # without kubeconfig and api_server: in-cluster
//   api_server = "https://10.0.0.1:6443"   # explicit, with bearer_token(_file), ca_file,
//                                          # cert_file/key_file, insecure_skip_verify
//   # mpp-style shortcuts for a proxy in front of Prometheus replicas:
//   service = "prometheus"          # = role endpoints of that Service
//   pod_selector = "app=prometheus" # = role pod with that label selector
//   port = "web"                    # name or number; default: each address's first TCP port
//   ready_only = true               # only ready endpoints / pods
#include "config.hpp"
#include "informer.hpp"
#include "kube_api.hpp"
#include "targets.hpp"

#include <herd/sdk/discovery_support.hpp>
#include <herd/sdk/json_config.hpp>
#include <herd/sdk/kv_support.hpp>
#include <herd/sdk/plugin.hpp>

#include <cstdlib>
#include <map>
#include <mutex>
#include <set>

namespace herd::sd_k8s {
namespace {

const std::string P = "__meta_kubernetes_";

// Where a kind's objects live: "/api/v1/namespaces/ns/pods", or across namespaces.
std::string collection(const std::string& kind, const std::string& ns) {
    static const std::map<std::string, std::string> groups{{"endpointslices", "/apis/discovery.k8s.io/v1"},
                                                           {"ingresses", "/apis/networking.k8s.io/v1"},
                                                           {"replicasets", "/apis/apps/v1"},
                                                           {"jobs", "/apis/batch/v1"}};
    auto it = groups.find(kind);
    const std::string group = it == groups.end() ? "/api/v1" : it->second;
    if (kind == "nodes" || kind == "namespaces") return group + "/" + kind;  // cluster-scoped
    return group + (ns.empty() ? "" : "/namespaces/" + ns) + "/" + kind;
}

// The kind of objects a role (or a selector's role) names.
std::string kind_of(const std::string& role) {
    if (role == "pod") return "pods";
    if (role == "service") return "services";
    if (role == "node") return "nodes";
    if (role == "endpoints") return "endpoints";
    if (role == "ingress") return "ingresses";
    return "endpointslices";
}

std::string selector_query(const Selector& s) {
    std::string q;
    if (!s.label.empty()) q += "labelSelector=" + query_escape(s.label);
    if (!s.field.empty()) q += std::string(q.empty() ? "" : "&") + "fieldSelector=" + query_escape(s.field);
    return q;
}

class SdK8s final : public sdk::Discovery {
public:
    explicit SdK8s(const sdk::CreateContext& ctx)
        : host_(ctx.host), name_(ctx.instance_name), opts_(parse_options(ctx)), client_(opts_.conn, opts_.timeout) {
        lists_ = host_.counter("herd_sd_k8s_lists_total", "Lists (initial, and after a 410 or a failure) an sd_k8s instance made.",
                               {"discovery"}).with({name_});
        events_ = host_.counter("herd_sd_k8s_watch_events_total", "Watch events (ADDED, MODIFIED, DELETED) an sd_k8s instance received.",
                                {"discovery"}).with({name_});
        objects_gauge_ = host_.gauge("herd_sd_k8s_objects", "Kubernetes objects an sd_k8s instance holds (all kinds it watches).",
                                     {"discovery"}).with({name_});
        const std::string primary = kind_of(opts_.role);
        // What is watched, as Prometheus watches it: the role's objects per namespace, the
        // services and pods the endpoints roles look up (per namespace too), and what
        // attach_metadata needs (nodes and namespaces cluster-wide, ReplicaSets and Jobs per
        // namespace).
        std::vector<std::pair<std::string, bool>> kinds{{primary, primary != "nodes"}};  // kind, namespaced
        if (opts_.role == "endpoints" || opts_.role == "endpointslice") kinds.insert(kinds.end(), {{"services", true}, {"pods", true}});
        if (opts_.attach.node) kinds.emplace_back("nodes", false);
        if (opts_.attach.ns) kinds.emplace_back("namespaces", false);
        if (opts_.attach.deployment) kinds.emplace_back("replicasets", true);
        if (opts_.attach.job || opts_.attach.cronjob) kinds.emplace_back("jobs", true);
        std::vector<std::string> namespaces = opts_.namespaces;
        if (namespaces.empty()) namespaces = {""};
        for (const auto& [kind, namespaced] : kinds) {
            std::string sel;
            for (const auto& [role, s] : opts_.selectors)
                if (kind_of(role) == kind) sel = selector_query(s);
            for (const auto& ns : namespaced ? namespaces : std::vector<std::string>{""}) {
                const size_t id = informers_.size();
                listed_.push_back(false);
                informers_.push_back(std::make_unique<Informer>(client_, collection(kind, ns), sel, opts_.watch_timeout_s, handler(id, kind, ns)));
            }
        }
        related_.pods_in_own_namespace = opts_.namespaces_listed;
        related_.job_names = opts_.attach.job;
        primary_ = primary;
    }
    ~SdK8s() override { stop(); }

    void start(sdk::DiscoverySink sink) override {
        sink_ = sink;
        for (auto& inf : informers_) {
            Informer* i = inf.get();
            threads_.start([i](sdk::WatchSet::Stop& stop) { i->run(stop); });
        }
    }
    void stop() noexcept override { threads_.stop_all(); }

private:
    InformerHandler handler(size_t id, const std::string& kind, const std::string& ns) {
        InformerHandler h;
        h.relisted = [this, id, kind, ns](Objects all) {
            std::lock_guard lk(mu_);
            Objects& cache = objects_[kind];
            for (auto it = cache.begin(); it != cache.end();)  // this informer's namespace only
                it = (ns.empty() || it->first.rfind(ns + "/", 0) == 0) ? cache.erase(it) : std::next(it);
            for (auto& [k, v] : all) cache.emplace(k, std::move(v));
            listed_[id] = true;
            lists_.add();
            publish_locked();
        };
        h.event = [this, kind](const std::string& type, const json& obj) {
            std::lock_guard lk(mu_);
            const std::string key = object_key(obj);
            if (type == "DELETED") objects_[kind].erase(key);
            else objects_[kind][key] = obj;
            events_.add();
            if (kind == primary_) publish_locked({Scope::key, key});
            else if (kind == "nodes") publish_locked({Scope::node, key});
            else if (kind == "namespaces") publish_locked({Scope::ns, key});
            else publish_locked({Scope::ns, obj.value("metadata", json::object()).value("namespace", "")});
        };
        h.error = [this](const std::string& m) {
            host_.warn(m);
            sink_.error(client_.connection().server + ": " + m);  // informers run only after start() set it
        };
        h.info = [this](const std::string& m) { host_.info(m); };
        return h;
    }

    // Rebuilds the groups and sends those that changed (and empty groups for vanished sources).
    // Nothing is sent until every informer has listed once: no half-built first picture.
    // Which primary objects an event can change the group of: all of them (after a list), the
    // one that changed (an event on the role's own objects), or — for the services and pods the
    // endpoints roles look up — those in the namespace the event is in. Rebuilding only those
    // keeps a busy cluster (pods change all the time) from rebuilding every group per event.
    struct Scope {
        enum { all, key, ns, node } what = all;
        std::string value;
    };

    json build(const json& o) {
        Related related = related_;
        related.pods = &objects_["pods"];
        related.services = &objects_["services"];
        if (opts_.attach.node) related.nodes = &objects_["nodes"];
        if (opts_.attach.ns) related.namespaces = &objects_["namespaces"];
        if (opts_.attach.deployment) related.replicasets = &objects_["replicasets"];
        if (opts_.attach.cronjob) related.jobs = &objects_["jobs"];
        json g = opts_.role == "pod"          ? pod_group(o, related)
               : opts_.role == "service"      ? service_group(o, related)
               : opts_.role == "node"         ? node_group(o)
               : opts_.role == "ingress"      ? ingress_group(o, related)
               : opts_.role == "endpoints"    ? endpoints_group(o, related)
                                              : endpointslice_group(o, related);
        if (opts_.shortcut) shortcut(g);
        return g;
    }

    // Rebuilds the groups in scope and sends those that changed (and empty groups for sources
    // that vanished). Nothing is sent until every informer has listed once: no half-built first
    // picture.
    void publish_locked() { publish_locked(Scope{}); }
    void publish_locked(const Scope& scope) {
        size_t held = 0;
        for (const auto& [kind, objs] : objects_) held += objs.size();
        objects_gauge_.set(static_cast<double>(held));
        for (bool l : listed_)
            if (!l) return;
        std::vector<json> rebuilt;
        const Objects& primary = objects_[primary_];
        if (scope.what == Scope::all || !publisher_.published()) {  // the first picture is whole
            for (const auto& [key, o] : primary) rebuilt.push_back(build(o));
            publisher_.publish_all(sink_, std::move(rebuilt));
            return;
        }
        std::vector<std::string> gone;  // sources of primary objects in scope that no longer exist
        if (scope.what == Scope::key) {
            if (auto it = primary.find(scope.value); it != primary.end()) rebuilt.push_back(build(it->second));
            else gone.push_back(source_of(opts_.role, json{{"metadata", key_to_meta(scope.value)}}));
        } else if (scope.what == Scope::node) {  // the primaries on (or naming) that node
            for (const auto& [key, o] : primary)
                if (refers_to_node(opts_.role, o, scope.value)) rebuilt.push_back(build(o));
        } else {
            for (auto it = primary.lower_bound(scope.value + "/"); it != primary.end() && it->first.rfind(scope.value + "/", 0) == 0; ++it)
                rebuilt.push_back(build(it->second));
        }
        publisher_.publish_some(sink_, std::move(rebuilt), gone);
    }

    static json key_to_meta(const std::string& key) {
        const auto slash = key.find('/');
        if (slash == std::string::npos) return {{"name", key}};
        return {{"namespace", key.substr(0, slash)}, {"name", key.substr(slash + 1)}};
    }

    // mpp's shortcuts: the chosen port only (else each address's first TCP port), ready only.
    void shortcut(json& g) const {
        const json& labels = g["labels"];
        json kept = json::array();
        std::set<std::string> hosts_done;
        auto get = [](const json& t, const std::string& k) { return t.contains(k) ? t[k].get<std::string>() : std::string(); };
        for (auto& t : g["targets"]) {
            std::string name, number, protocol, ready;
            if (opts_.role == "endpoints") {
                name = get(t, P + "endpoint_port_name");
                number = t["__address__"].get<std::string>().substr(t["__address__"].get<std::string>().rfind(':') + 1);
                protocol = get(t, P + "endpoint_port_protocol");
                ready = get(t, P + "endpoint_ready");
            } else if (opts_.role == "endpointslice") {
                name = get(t, P + "endpointslice_port_name");
                number = get(t, P + "endpointslice_port");
                protocol = get(t, P + "endpointslice_port_protocol");
                ready = get(t, P + "endpointslice_endpoint_conditions_ready");
            } else if (opts_.role == "pod") {
                name = get(t, P + "pod_container_port_name");
                number = get(t, P + "pod_container_port_number");
                protocol = get(t, P + "pod_container_port_protocol");
                ready = labels.value(P + "pod_ready", "");
            } else {
                name = get(t, P + "service_port_name");
                number = get(t, P + "service_port_number");
                protocol = get(t, P + "service_port_protocol");
                ready = "true";
            }
            if (number.empty()) continue;  // a container without ports: nothing to proxy to
            if (opts_.ready_only && ready != "true") continue;
            const std::string addr = t["__address__"].get<std::string>();
            const std::string host = addr.substr(0, addr.rfind(':'));
            if (!opts_.port.empty()) {
                if (opts_.port != name && opts_.port != number) continue;
            } else {
                // The API server defaults a port's protocol to TCP: "" is TCP.
                if ((protocol != "TCP" && !protocol.empty()) || hosts_done.count(host)) continue;
                hosts_done.insert(host);
            }
            kept.push_back(std::move(t));
        }
        g["targets"] = std::move(kept);
    }

    sdk::Host host_;
    std::string name_;
    Options opts_;
    KubeClient client_;
    sdk::Series lists_, events_, objects_gauge_;
    std::string primary_;
    std::vector<std::unique_ptr<Informer>> informers_;
    sdk::DiscoverySink sink_;
    std::mutex mu_;
    std::map<std::string, Objects> objects_;  // kind -> objects
    std::vector<bool> listed_;
    Related related_;  // the flags; build() points it at the caches
    sdk::GroupPublisher publisher_;
    sdk::WatchSet threads_;  // last: stops before the rest goes
};

}  // namespace
}  // namespace herd::sd_k8s

HERD_PLUGIN("sd_k8s", "0.1.0", "Discovery from the Kubernetes API (Prometheus kubernetes_sd labels)",
            herd::sdk::factory<herd::sd_k8s::SdK8s>("sd_k8s", "endpoints, endpointslice, pod, service and node roles by list + watch"))

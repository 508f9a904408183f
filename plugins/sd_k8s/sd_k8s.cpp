// sd_k8s — discovery from the Kubernetes API, target groups as Prometheus' kubernetes_sd makes them.
//
//   [[discovery]]
//   name = "k8s"
//   plugin = "sd_k8s"
//   role = "endpoints"              # endpoints | endpointslice | pod | service | node
//   namespaces = ["monitoring"]     # default: all namespaces
//   label_selector = "app=prometheus"
//   field_selector = "metadata.name=prometheus"
//   kubeconfig = "~/.kube/config"   # with context = "..." (default: current-context);
//                                   # without kubeconfig and api_server: in-cluster
//   api_server = "https://10.0.0.1:6443"   # explicit, with bearer_token(_file), ca_file,
//                                          # cert_file/key_file, insecure_skip_verify
//   # mpp-style shortcuts for a proxy in front of Prometheus replicas:
//   service = "prometheus"          # = role endpoints of that Service
//   pod_selector = "app=prometheus" # = role pod with that label selector
//   port = "web"                    # name or number; default: each address's first TCP port
//   ready_only = true               # only ready endpoints / pods
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

struct Options {
    std::string role;
    std::vector<std::string> namespaces;  // empty = all
    std::string label_selector, field_selector;
    Connection conn;
    std::chrono::milliseconds timeout{10000};
    int watch_timeout_s = 300;
    bool shortcut = false;         // service / pod_selector: one port per address
    std::string port;              // name or number
    bool ready_only = false;
};

Options parse(const sdk::CreateContext& ctx) {
    sdk::JsonConfig cfg(ctx.config_json);
    Options o;
    auto file = [&](const std::string& f) { return ctx.path(f); };
    const auto service = cfg.string("service");
    const auto pod_selector = cfg.string("pod_selector");
    o.role = cfg.string("role", service ? "endpoints" : pod_selector ? "pod" : "");
    static const std::set<std::string> roles{"endpoints", "endpointslice", "pod", "service", "node"};
    if (o.role.empty()) throw sdk::ConfigError("role", "name a role (endpoints, endpointslice, pod, service, node), or use service = \"...\" or pod_selector = \"...\"");
    if (!roles.count(o.role)) throw sdk::ConfigError("role", "\"" + o.role + "\" is not a role (endpoints, endpointslice, pod, service, node)");
    if (service && pod_selector) throw sdk::ConfigError("pod_selector", "service and pod_selector are two ways to say the same thing: use one");
    o.namespaces = cfg.strings("namespaces").value_or(std::vector<std::string>{});
    o.label_selector = cfg.string("label_selector", "");
    o.field_selector = cfg.string("field_selector", "");
    if (service) {
        if (o.role != "endpoints" && o.role != "endpointslice") throw sdk::ConfigError("service", "service = \"...\" goes with role endpoints or endpointslice");
        o.shortcut = true;
        if (o.role == "endpoints") o.field_selector = "metadata.name=" + *service;
        else o.label_selector = "kubernetes.io/service-name=" + *service;
    }
    if (pod_selector) {
        if (o.role != "pod") throw sdk::ConfigError("pod_selector", "pod_selector goes with role pod");
        o.shortcut = true;
        o.label_selector = *pod_selector;
    }
    if (auto port = cfg.value("port")) {
        if (port->is_number_integer()) o.port = std::to_string(port->get<int64_t>());
        else if (port->is_string()) o.port = port->get<std::string>();
        else throw sdk::ConfigError("port", "must be a port name or number");
        o.shortcut = true;
    }
    o.ready_only = cfg.boolean("ready_only").value_or(false);
    o.timeout = cfg.duration("timeout").value_or(o.timeout);
    const auto wt = cfg.duration("watch_timeout").value_or(std::chrono::minutes(5));
    o.watch_timeout_s = static_cast<int>(std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(wt).count()));

    const std::string kubeconfig = file(cfg.string("kubeconfig", ""));
    const std::string context = cfg.string("context", "");
    const std::string api_server = cfg.string("api_server", "");
    if (!kubeconfig.empty() && !api_server.empty()) throw sdk::ConfigError("api_server", "use kubeconfig or api_server, not both");
    if (!kubeconfig.empty()) {
        try {
            o.conn = from_kubeconfig(kubeconfig, context);
        } catch (const sdk::Error& e) {
            throw sdk::ConfigError("kubeconfig", e.what());
        }
    } else if (!api_server.empty()) {
        if (api_server.rfind("http://", 0) != 0 && api_server.rfind("https://", 0) != 0)
            throw sdk::ConfigError("api_server", "\"" + api_server + "\" must start with https:// (or http://)");
        o.conn.server = api_server;
        while (o.conn.server.back() == '/') o.conn.server.pop_back();
        o.conn.described = "api_server " + o.conn.server;
    } else if (auto in = in_cluster()) {
        o.conn = *in;
    } else {
        throw sdk::ConfigError("api_server", "not running in a cluster (KUBERNETES_SERVICE_HOST is unset): set kubeconfig or api_server");
    }
    if (!context.empty() && kubeconfig.empty()) throw sdk::ConfigError("context", "context needs kubeconfig");
    // Explicit keys refine whatever the connection came from.
    if (auto t = cfg.string("bearer_token")) o.conn.token = *t;
    if (auto t = cfg.string("bearer_token_file")) o.conn.token_file = file(*t);
    if (auto f = cfg.string("ca_file")) o.conn.tls.ca_file = file(*f);
    if (auto f = cfg.string("cert_file")) o.conn.tls.cert_file = file(*f);
    if (auto f = cfg.string("key_file")) o.conn.tls.key_file = file(*f);
    if (auto b = cfg.boolean("insecure_skip_verify")) o.conn.tls.insecure_skip_verify = *b;
    if (!o.conn.token.empty() && !o.conn.token_file.empty() && cfg.has("bearer_token") && cfg.has("bearer_token_file"))
        throw sdk::ConfigError("bearer_token_file", "bearer_token and bearer_token_file: use one");
    cfg.finish();
    return o;
}

// Where a role's objects live: "/api/v1/namespaces/ns/pods", or across namespaces.
std::string collection(const std::string& kind, const std::string& ns) {
    const std::string group = kind == "endpointslices" ? "/apis/discovery.k8s.io/v1" : "/api/v1";
    if (kind == "nodes") return group + "/nodes";
    return group + (ns.empty() ? "" : "/namespaces/" + ns) + "/" + kind;
}

class SdK8s final : public sdk::Discovery {
public:
    explicit SdK8s(const sdk::CreateContext& ctx)
        : host_(ctx.host), name_(ctx.instance_name), opts_(parse(ctx)), client_(opts_.conn, opts_.timeout) {
        lists_ = host_.counter("herd_sd_k8s_lists_total", "Lists (initial, and after a 410 or a failure) an sd_k8s instance made.",
                               {"discovery"}).with({name_});
        events_ = host_.counter("herd_sd_k8s_watch_events_total", "Watch events (ADDED, MODIFIED, DELETED) an sd_k8s instance received.",
                                {"discovery"}).with({name_});
        objects_gauge_ = host_.gauge("herd_sd_k8s_objects", "Kubernetes objects an sd_k8s instance holds (all kinds it watches).",
                                     {"discovery"}).with({name_});
        const std::string primary = opts_.role == "pod" ? "pods" : opts_.role == "service" ? "services"
                                  : opts_.role == "node" ? "nodes" : opts_.role == "endpoints" ? "endpoints" : "endpointslices";
        std::vector<std::string> kinds{primary};
        if (opts_.role == "endpoints" || opts_.role == "endpointslice") kinds = {primary, "services", "pods"};
        std::vector<std::string> namespaces = opts_.namespaces;
        if (namespaces.empty() || opts_.role == "node") namespaces = {""};
        for (const auto& kind : kinds)
            for (const auto& ns : namespaces) {
                std::string sel;
                if (kind == primary) {
                    if (!opts_.label_selector.empty()) sel += "labelSelector=" + query_escape(opts_.label_selector);
                    if (!opts_.field_selector.empty()) sel += std::string(sel.empty() ? "" : "&") + "fieldSelector=" + query_escape(opts_.field_selector);
                }
                const size_t id = informers_.size();
                listed_.push_back(false);
                informers_.push_back(std::make_unique<Informer>(client_, collection(kind, ns), sel, opts_.watch_timeout_s, handler(id, kind, ns)));
            }
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
        enum { all, key, ns } what = all;
        std::string value;
    };

    json build(const json& o) {
        const Related related{&objects_["pods"], &objects_["services"]};
        json g = opts_.role == "pod"          ? pod_group(o)
               : opts_.role == "service"      ? service_group(o)
               : opts_.role == "node"         ? node_group(o)
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
                if (protocol != "TCP" || hosts_done.count(host)) continue;
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
    sdk::GroupPublisher publisher_;
    sdk::WatchSet threads_;  // last: stops before the rest goes
};

}  // namespace
}  // namespace herd::sd_k8s

HERD_PLUGIN("sd_k8s", "0.1.0", "Discovery from the Kubernetes API (Prometheus kubernetes_sd labels)",
            herd::sdk::factory<herd::sd_k8s::SdK8s>("sd_k8s", "endpoints, endpointslice, pod, service and node roles by list + watch"))

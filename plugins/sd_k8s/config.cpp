#include "config.hpp"

#include <herd/sdk/json_config.hpp>

#include <algorithm>
#include <set>

namespace herd::sd_k8s {

namespace {

const std::set<std::string> kRoles{"endpoints", "endpointslice", "pod", "service", "node", "ingress"};
const char* kRoleList = "endpoints, endpointslice, pod, service, node, ingress";

// Which objects' selectors a role takes (Prometheus' allowedSelectors).
const std::map<std::string, std::vector<std::string>> kAllowedSelectors{
    {"pod", {"pod", "node"}},
    {"service", {"service"}},
    {"endpointslice", {"pod", "service", "endpointslice"}},
    {"endpoints", {"pod", "service", "endpoints"}},
    {"node", {"node"}},
    {"ingress", {"ingress"}},
};

// Reads a nested table with its own strict reader; an error names the key in full ("a.b").
template <class F>
void nested(const std::string& key, const nlohmann::json& table, F&& read) {
    try {
        sdk::JsonConfig sub(table.dump());
        read(sub);
        sub.finish();
    } catch (const sdk::ConfigError& e) {
        throw sdk::ConfigError(key + (e.key().empty() ? "" : "." + e.key()), e.what());
    }
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

}  // namespace

std::vector<std::string> namespaces_to_watch(const std::vector<std::string>& names, bool own_namespace, const std::string& own) {
    if (names.empty() && !own_namespace) return {};
    std::vector<std::string> out = names;
    if (own_namespace && !own.empty() && std::find(out.begin(), out.end(), own) == out.end()) out.push_back(own);
    return out;
}

Options parse_options(const sdk::CreateContext& ctx) {
    sdk::JsonConfig cfg(ctx.config_json);
    Options o;
    auto file = [&](const std::string& f) { return ctx.path(f); };
    const auto service = cfg.string("service");
    const auto pod_selector = cfg.string("pod_selector");
    o.role = cfg.string("role", service ? "endpoints" : pod_selector ? "pod" : "");
    if (o.role.empty())
        throw sdk::ConfigError("role", std::string("name a role (") + kRoleList + "), or use service = \"...\" or pod_selector = \"...\"");
    if (!kRoles.count(o.role)) throw sdk::ConfigError("role", "\"" + o.role + "\" is not a role (" + kRoleList + ")");
    if (service && pod_selector) throw sdk::ConfigError("pod_selector", "service and pod_selector are two ways to say the same thing: use one");

    // namespaces: herd's list, or Prometheus' table {names = [...], own_namespace = true}.
    std::vector<std::string> names;
    bool own_namespace = false;
    if (auto ns = cfg.value("namespaces")) {
        if (ns->is_array()) {
            names = cfg.strings("namespaces").value_or(names);
        } else if (ns->is_object()) {
            nested("namespaces", *ns, [&](sdk::JsonConfig& sub) {
                names = sub.strings("names").value_or(names);
                own_namespace = sub.boolean("own_namespace").value_or(false);
            });
        } else {
            throw sdk::ConfigError("namespaces", "must be a list of names or a table {names = [...], own_namespace = true}");
        }
    }

    // selectors: [{role, label, field}], at most one per role, only the roles this role watches.
    std::string label_selector = cfg.string("label_selector", ""), field_selector = cfg.string("field_selector", "");
    if (auto sel = cfg.value("selectors")) {
        if (!sel->is_array()) throw sdk::ConfigError("selectors", "must be a list of {role, label, field} tables");
        for (size_t i = 0; i < sel->size(); ++i) {
            const std::string key = "selectors[" + std::to_string(i) + "]";
            if (!(*sel)[i].is_object()) throw sdk::ConfigError(key, "must be a table {role, label, field}");
            std::string role;
            Selector s;
            nested(key, (*sel)[i], [&](sdk::JsonConfig& sub) {
                role = sub.string("role", "");
                s.label = sub.string("label", "");
                s.field = sub.string("field", "");
            });
            if (!kRoles.count(role)) throw sdk::ConfigError(key + ".role", "\"" + role + "\" is not a role (" + kRoleList + ")");
            if (o.selectors.count(role)) throw sdk::ConfigError(key + ".role", "duplicated selector role: " + role);
            const auto& allowed = kAllowedSelectors.at(o.role);
            if (std::find(allowed.begin(), allowed.end(), role) == allowed.end())
                throw sdk::ConfigError(key + ".role", o.role + " role supports only " + join(allowed) + " selectors");
            o.selectors[role] = s;
        }
    }
    if (!label_selector.empty() || !field_selector.empty()) {
        if (o.selectors.count(o.role))
            throw sdk::ConfigError(label_selector.empty() ? "field_selector" : "label_selector",
                                   "selectors has a " + o.role + " entry already: use one of the two");
        o.selectors[o.role] = {label_selector, field_selector};
    }
    if (service) {
        if (o.role != "endpoints" && o.role != "endpointslice") throw sdk::ConfigError("service", "service = \"...\" goes with role endpoints or endpointslice");
        o.shortcut = true;
        auto& s = o.selectors[o.role];
        if (o.role == "endpoints") s.field = "metadata.name=" + *service;
        else s.label = "kubernetes.io/service-name=" + *service;
    }
    if (pod_selector) {
        if (o.role != "pod") throw sdk::ConfigError("pod_selector", "pod_selector goes with role pod");
        o.shortcut = true;
        o.selectors["pod"].label = *pod_selector;
    }

    if (auto am = cfg.value("attach_metadata")) {
        if (!am->is_object()) throw sdk::ConfigError("attach_metadata", "must be a table {node, namespace, deployment, job, cronjob}");
        nested("attach_metadata", *am, [&](sdk::JsonConfig& sub) {
            o.attach.node = sub.boolean("node").value_or(false);
            o.attach.ns = sub.boolean("namespace").value_or(false);
            o.attach.deployment = sub.boolean("deployment").value_or(false);
            o.attach.job = sub.boolean("job").value_or(false);
            o.attach.cronjob = sub.boolean("cronjob").value_or(false);
        });
        // Prometheus ignores what a role cannot use; herd says so instead of doing nothing.
        const bool pods = o.role == "pod" || o.role == "endpoints" || o.role == "endpointslice";
        if (o.attach.node && !pods) throw sdk::ConfigError("attach_metadata.node", "goes with role pod, endpoints or endpointslice");
        if ((o.attach.deployment || o.attach.job || o.attach.cronjob) && !pods)
            throw sdk::ConfigError("attach_metadata", "deployment, job and cronjob go with role pod, endpoints or endpointslice");
        if (o.attach.ns && o.role == "node") throw sdk::ConfigError("attach_metadata.namespace", "nodes have no namespace");
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
    // As Prometheus: the own namespace is the pod's, known only in the cluster.
    if (own_namespace && !api_server.empty())
        throw sdk::ConfigError("namespaces.own_namespace", "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
    if (own_namespace && !kubeconfig.empty())
        throw sdk::ConfigError("namespaces.own_namespace", "cannot use 'kubeconfig' and 'namespaces.own_namespace' simultaneously");
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
    o.namespaces = namespaces_to_watch(names, own_namespace, o.conn.default_namespace);
    o.namespaces_listed = !o.namespaces.empty();
    if (o.role == "node") o.namespaces.clear();  // nodes have no namespace
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

}  // namespace herd::sd_k8s

#include "dispatch/check_template.hpp"

#include <herd/sdk/sink_support.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <set>

namespace herd::dispatch {

namespace {

const std::string kAnnotation = "__meta_kubernetes_service_annotation_ad_datadoghq_com_service_";

// Replaces %%host%%/%%port%% in every string; throws std::invalid_argument on another variable.
nlohmann::json substitute(const nlohmann::json& v, const std::string& host, const std::string& port) {
    if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        std::string out;
        size_t i = 0;
        while (true) {
            auto open = s.find("%%", i);
            if (open == std::string::npos) break;
            auto close = s.find("%%", open + 2);
            if (close == std::string::npos) break;
            const std::string name = s.substr(open + 2, close - open - 2);
            out += s.substr(i, open - i);
            if (name == "host") out += host;
            else if (name == "port") out += port;
            else throw std::invalid_argument("unknown template variable %%" + name + "%% (known: %%host%%, %%port%%)");
            i = close + 2;
        }
        out += s.substr(i);
        return out;
    }
    if (v.is_array()) {
        auto a = nlohmann::json::array();
        for (const auto& e : v) a.push_back(substitute(e, host, port));
        return a;
    }
    if (v.is_object()) {
        auto o = nlohmann::json::object();
        for (const auto& [k, e] : v.items()) o[k] = substitute(e, host, port);
        return o;
    }
    return v;
}

std::string hex(const std::string& s) {
    char h[17];
    std::snprintf(h, sizeof h, "%016llx", static_cast<unsigned long long>(sdk::fingerprint(s)));
    return h;
}

// One check from a (resolved) document; throws std::invalid_argument with the reason.
Check make(const std::string& check_name, const nlohmann::json& init_config, const nlohmann::json& instances,
           const std::string& discovery, const std::string& address, size_t index) {
    nlohmann::json doc{{"check_name", check_name}, {"init_config", init_config}, {"instances", instances}};
    std::string why;
    const std::string service = discovery + "://" + address;
    std::string id = check_name + "-" + hex(service + "#" + std::to_string(index) + "#" + check_name);
    if (!check_id_error(id).empty()) id = "check-" + hex(service + "#" + std::to_string(index) + "#" + check_name);
    auto c = parse_check(doc.dump(), id, &why);
    if (!c) throw std::invalid_argument(why);
    c->source = "discovery:" + discovery;
    c->service_id = service;
    return *c;
}

std::pair<std::string, std::string> split(const std::string& address) {
    auto colon = address.rfind(':');
    if (colon == std::string::npos) return {address, ""};
    std::string host = address.substr(0, colon);
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return {host, address.substr(colon + 1)};
}

nlohmann::json parse_annotation(const discovery::LabelSet& l, const std::string& name) {
    auto it = l.find(kAnnotation + name);
    if (it == l.end()) throw std::invalid_argument("no ad.datadoghq.com/service." + name + " annotation");
    try {
        auto j = nlohmann::json::parse(it->second);
        if (!j.is_array()) throw std::invalid_argument("");
        return j;
    } catch (const std::exception&) {
        throw std::invalid_argument("ad.datadoghq.com/service." + name + " is not a JSON list: " + it->second);
    }
}

}  // namespace

std::string unknown_variable(const nlohmann::json& value, const std::string& path) {
    try {
        substitute(value, "h", "1");
    } catch (const std::invalid_argument& e) {
        return path + ": " + e.what();
    }
    return {};
}

Expansion expand(const std::vector<CheckTemplate>& templates,
                 const std::map<std::string, std::vector<discovery::TargetGroup>>& groups_by_discovery) {
    Expansion out;
    for (const auto& t : templates) {
        auto g = groups_by_discovery.find(t.discovery);
        if (g == groups_by_discovery.end()) continue;
        std::set<std::string> services_done;  // annotations: one check set per Service, not per port
        for (const auto& group : g->second)
            for (const auto& target : group.targets) {
                discovery::LabelSet l = group.labels;
                for (const auto& [k, v] : target) l[k] = v;
                const std::string address = l["__address__"];
                auto [host, port] = split(address);
                try {
                    if (!t.annotations) {
                        auto c = make(t.check_name, substitute(t.init_config, host, port),
                                      substitute(t.instances, host, port), t.discovery, address, 0);
                        out.checks[c.id] = c;
                        continue;
                    }
                    if (!l.count(kAnnotation + "check_names")) continue;  // not an annotated Service
                    const std::string service = l["__meta_kubernetes_namespace"] + "/" + l["__meta_kubernetes_service_name"];
                    if (!services_done.insert(service).second) continue;
                    auto names = parse_annotation(l, "check_names");
                    auto inits = parse_annotation(l, "init_configs");
                    auto insts = parse_annotation(l, "instances");
                    if (names.size() != inits.size() || names.size() != insts.size())
                        throw std::invalid_argument("check_names, init_configs and instances have different lengths (" +
                                                    std::to_string(names.size()) + ", " + std::to_string(inits.size()) +
                                                    ", " + std::to_string(insts.size()) + ")");
                    for (size_t i = 0; i < names.size(); ++i) {
                        if (!names[i].is_string()) throw std::invalid_argument("check_names[" + std::to_string(i) + "] is not a string");
                        // Datadog's annotation form: each instances entry is one instance (a mapping).
                        auto inst = insts[i].is_array() ? insts[i] : nlohmann::json::array({insts[i]});
                        auto c = make(names[i].get<std::string>(), substitute(inits[i], host, port),
                                      substitute(inst, host, port), t.discovery, service, i);
                        out.checks[c.id] = c;
                    }
                } catch (const std::invalid_argument& e) {
                    out.errors.push_back(t.discovery + " target " + address + ": " + e.what());
                }
            }
    }
    return out;
}

}  // namespace herd::dispatch

// Checks from discovered targets: one check per target through a template whose strings may
// hold %%host%% and %%port%% (the target's __address__), or — for Kubernetes Services seen by
// sd_k8s — the Datadog autodiscovery annotations the Service already carries
// (ad.datadoghq.com/service.check_names, .init_configs, .instances), so annotated Services work
// unchanged.
#pragma once

#include "discovery/target_group.hpp"
#include "dispatch/check.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace herd::dispatch {

struct CheckTemplate {
    std::string discovery;       // a [[discovery]] name
    bool annotations = false;    // read the Datadog annotations instead of a template
    std::string check_name;      // the template (annotations = false)
    nlohmann::json init_config = nlohmann::json::object();
    nlohmann::json instances = nlohmann::json::array();
};

// The template variables herd resolves.
inline const std::vector<std::string>& template_variables() {
    static const std::vector<std::string> v{"host", "port"};
    return v;
}

// "" when every %%variable%% in the value is known; else which one, and where ("instances[0].url").
std::string unknown_variable(const nlohmann::json& value, const std::string& path);

struct Expansion {
    std::map<std::string, Check> checks;          // by id
    std::vector<std::string> errors;               // per target: why it gave no check (for /status)
};

// Every check the templates give for these groups (each from its template's discovery).
Expansion expand(const std::vector<CheckTemplate>& templates,
                 const std::map<std::string, std::vector<discovery::TargetGroup>>& groups_by_discovery);

}  // namespace herd::dispatch

// One check: what a Datadog cluster-check file holds (check_name, init_config, instances), with
// the id herd keeps it under. It comes from the checks API (stored in the KV store) or from a
// discovered target through a template (template.hpp); it leaves as a Datadog integration.Config
// (node API) or as a conf.d file (a herd node's sink).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::dispatch {

struct Check {
    std::string id;
    std::string check_name;
    std::string init_config = "{}\n";     // YAML
    std::vector<std::string> instances;  // YAML, one per instance
    std::string source = "api";          // "api" or "discovery:<name>"
    std::string service_id;              // discovered target: "<discovery>://<host:port>"

    // Stable over processes and leaders: name, instances, init_config, service_id.
    std::string digest() const;
    bool operator==(const Check&) const = default;
};

// "" when the id can name a check (a KV key part and a file name): letters, digits, '.', '_',
// '-', 1–200 characters, not starting with '.'; else why not.
std::string check_id_error(std::string_view id);

// A check from an API body, YAML or JSON (JSON is YAML): {check_name, init_config, instances}.
// nullopt with *error naming the field.
std::optional<Check> parse_check(std::string_view body, const std::string& id, std::string* error);

// The record kept in the KV store, and back (nullopt when it is not one).
std::string to_record(const Check& c);
std::optional<Check> from_record(const std::string& id, std::string_view record);

// The check as the API shows it: init_config and instances as JSON values.
nlohmann::ordered_json to_api_json(const Check& c);

// A conf.d file: init_config + instances, what an agent reads from <check_name>.d/<file>.yaml.
std::string conf_d_yaml(const Check& c);

// Datadog's integration.Config as a cluster agent sends it, field for field (Data as base64).
nlohmann::ordered_json datadog_config(const Check& c, const std::string& node_name);
// And back (a herd node reading a leader's answer); nullopt with *error when malformed.
std::optional<Check> from_datadog_config(const nlohmann::json& j, std::string* error);

// Go's encoding/json output for a JSON value: compact, with <, > and & escaped as \u003c…,
// so an answer is byte for byte what a Datadog cluster agent would write.
std::string go_json(const nlohmann::ordered_json& j);

std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);

// YAML ↔ JSON for the values inside a check (yaml-cpp's scalars typed as YAML 1.2's core schema).
nlohmann::json yaml_text_to_json(const std::string& yaml);

}  // namespace herd::dispatch

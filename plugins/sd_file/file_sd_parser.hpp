// Parsers for the three sources sd_file reads. Each returns target groups as herd's discovery
// JSON ({"source", "targets": [{"__address__": ...}], "labels"}) and throws std::runtime_error
// naming the problem (and the line, where there is one).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>

namespace herd::sd_file {

using Labels = std::map<std::string, std::string>;

// Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*
bool valid_label_name(std::string_view name);
// A static target or endpoint address: host:port, [v6]:port.
bool valid_address(std::string_view address);

// A Prometheus file_sd file, strict as Prometheus is: a list of {targets, labels}; unknown fields,
// null items, non-string values and invalid label names are errors. The format follows the
// extension (.json, .yml, .yaml). Each group gets source "<path>:<index>" and __meta_filepath.
nlohmann::json parse_file_sd(const std::string& path, std::string_view content);

// mpp's endpoints file: one endpoint per line, "host:port" or "scheme://host:port[/]";
// blank lines and # comments are skipped. One group with source = path.
nlohmann::json parse_endpoints_file(const std::string& path, std::string_view content, const Labels& labels);

// The static `targets` list as one group with source "static".
nlohmann::json static_group(const std::vector<std::string>& targets, const Labels& labels);

}  // namespace herd::sd_file

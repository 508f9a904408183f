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

// How label names are validated, as Prometheus 3.x does (its metric_name_validation_scheme):
// utf8 (the default since 3.0) takes any non-empty valid UTF-8; legacy only [a-zA-Z_][a-zA-Z0-9_]*.
enum class NameScheme { utf8, legacy };
bool valid_label_name(std::string_view name, NameScheme scheme = NameScheme::utf8);
bool valid_utf8(std::string_view s);
// A static target or endpoint address: host:port, [v6]:port.
bool valid_address(std::string_view address);

// A Prometheus file_sd file, strict as Prometheus is: a list of {targets, labels}; unknown fields,
// null items, non-string values, invalid label names and (in YAML) a key given twice are errors.
// The format follows the extension (.json, .yml, .yaml, or the same in capitals). Each group gets
// source "<path>:<index>" and __meta_filepath.
nlohmann::json parse_file_sd(const std::string& path, std::string_view content, NameScheme scheme = NameScheme::utf8);
// What Prometheus' file_sd takes as a file name: "x.json", "x.yml", "x.yaml" or "x.JSON", ...;
// the format, lower-case, or "".
std::string file_sd_format(std::string_view file_name);

// mpp's endpoints file: one endpoint per line, "host:port" or "scheme://host:port[/]";
// blank lines and # comments are skipped. One group with source = path.
nlohmann::json parse_endpoints_file(const std::string& path, std::string_view content, const Labels& labels);

// The static `targets` list as one group with source "static".
nlohmann::json static_group(const std::vector<std::string>& targets, const Labels& labels);

}  // namespace herd::sd_file

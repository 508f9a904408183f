// sd_file's configuration keys, validated strictly (unknown keys are errors).
#pragma once

#include "file_sd_parser.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace herd::sd_file {

struct Config {
    std::vector<std::string> targets;  // static host:port list
    std::string endpoints_file;        // mpp format, absolute path ("" = none)
    std::vector<std::string> files;    // file_sd globs, absolute
    Labels labels;                     // added to static and endpoints-file targets
    std::chrono::milliseconds refresh_interval{std::chrono::minutes(5)};
    NameScheme names = NameScheme::utf8;  // name_validation_scheme: "utf8" (Prometheus 3.x) or "legacy"
};

// Throws herd::sdk::ConfigError naming the key. Relative paths are resolved against config_dir.
Config parse_config(std::string_view json, const std::string& config_dir);

}  // namespace herd::sd_file

// Finding and creating the instance a command names, or saying why not.
#pragma once

#include "cli/commands.hpp"
#include "config/config.hpp"
#include "plugins/instance.hpp"

#include <filesystem>
#include <memory>
#include <optional>

namespace herd::cli {

struct OpenedInstance {
    config::Config cfg;
    std::unique_ptr<plugins::Instance> instance;  // keeps its plugin library loaded
};

// Loads the configuration, loads its plugins and creates the named [[section]] instance (with
// `data_dir` instead of the configured one, when given). For kv an empty name means the default
// store (Config::default_kv). nullopt after printing every problem.
std::optional<OpenedInstance> open_instance(const Common& c, const std::filesystem::path& file, herd_kind kind,
                                            const std::string& section, const std::string& name,
                                            const std::optional<std::filesystem::path>& data_dir = std::nullopt);

// The [[section]] instance called `name`; nullptr after printing which ones the file defines.
const config::InstanceConfig* find_instance(const config::Config& cfg, herd_kind kind, const std::string& section,
                                            const std::string& name);

// The [[kind]] pipeline called `name` (or the only one when `name` is empty) of a loaded file;
// nullptr after printing the file's errors or which ones it defines (`flag`: the option that
// names one, e.g. "--sharding").
const config::PipelineConfig* find_pipeline(const config::LoadResult& loaded, const std::filesystem::path& file,
                                            const std::string& kind, const std::string& name, const std::string& flag);

}  // namespace herd::cli

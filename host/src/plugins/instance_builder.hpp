// Turns the [[kv]] / [[discovery]] / [[sink]] tables of a config (and pipelines' plugin references)
// into plugin instances: finds the plugin and
// factory, optionally tries create() in a throw-away process first, then creates in-process.
// Every failure becomes a Diagnostic that points at the key to fix. Used by `check` and `run`.
#pragma once

#include "config/config.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"

#include <filesystem>
#include <memory>

namespace herd::plugins {

struct BuildOptions {
    bool isolate = true;       // probe create() in a child process before creating in-process
    bool keep = true;          // false: `herd check` — probe/create, then destroy
};

class InstanceBuilder {
public:
    InstanceBuilder(const config::Config& cfg, PluginRegistry& registry, BuildOptions opts)
        : cfg_(cfg), registry_(registry), opts_(opts) {}

    // The instance, or null with *error set. With keep = false a successful check also returns
    // null and leaves *error empty.
    std::unique_ptr<Instance> build(const config::InstanceConfig& ic, config::Diagnostic* error);

    // The directory an instance may write into: <data_dir>/<section>/<name>.
    std::filesystem::path data_dir_for(const config::InstanceConfig& ic) const;

private:
    const config::Config& cfg_;
    PluginRegistry& registry_;
    BuildOptions opts_;
};

}  // namespace herd::plugins

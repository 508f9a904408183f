// Turns the [[kv]] / [[discovery]] tables of a config into plugin instances: finds the plugin and
// factory, optionally tries create() in a throw-away process first, then creates in-process.
// Every failure becomes a Diagnostic that points at the key to fix. Used by `check` and `run`.
#pragma once

#include "config/config.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"

#include <filesystem>
#include <memory>

namespace herd::runtime {

struct BuildOptions {
    bool isolate = true;       // probe create() in a child process before creating in-process
    bool keep = true;          // false: `herd check` — probe/create, then destroy
};

class InstanceBuilder {
public:
    InstanceBuilder(const config::Config& cfg, plugins::PluginRegistry& registry, BuildOptions opts)
        : cfg_(cfg), registry_(registry), opts_(opts) {}

    // The instance, or null with *error set. With keep = false a successful check also returns
    // null and leaves *error empty.
    std::unique_ptr<plugins::Instance> build(const config::InstanceConfig& ic, config::Diagnostic* error);

    // The directory an instance may write into: <data_dir>/<section>/<name>.
    std::filesystem::path data_dir_for(const config::InstanceConfig& ic) const;

private:
    const config::Config& cfg_;
    plugins::PluginRegistry& registry_;
    BuildOptions opts_;
};

// What pipelines need from the loaded plugins (strategy and affinity factories), and whether this
// build can run them at all. Empty when every pipeline can be built.
config::Diagnostics check_pipelines(const config::Config& cfg, const plugins::PluginRegistry& registry);

}  // namespace herd::runtime

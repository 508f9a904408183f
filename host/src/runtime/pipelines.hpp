// The table of pipeline kinds the runtime knows: the only place that names them.
#pragma once

#include "config/config.hpp"
#include "pipeline/pipeline.hpp"
#include "plugins/plugin_registry.hpp"

#include <vector>

namespace herd::runtime {

// One factory per pipeline kind ("proxy", ...); nullptr for a kind this build does not run.
const pipeline::Factory* pipeline_factory(const std::string& kind);

// What pipelines need from the loaded plugins (their strategy/affinity/... factories), and whether
// this build runs their kind at all. Empty when every pipeline can be built.
config::Diagnostics check_pipelines(const config::Config& cfg, const plugins::PluginRegistry& registry);

}  // namespace herd::runtime

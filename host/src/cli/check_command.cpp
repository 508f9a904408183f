// `herd check -c FILE`: everything `run` does before it starts anything — parse, validate, load
// the plugins the file names, create (and destroy) every instance — and report each problem as
// file:line:col: message.
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "metrics/registry.hpp"
#include "plugins/plugin_registry.hpp"
#include "discovery/manager.hpp"
#include "plugins/instance_builder.hpp"
#include "runtime/pipelines.hpp"
#include "util/scratch_dir.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace herd::cli {

int check(const Common& c, const std::filesystem::path& file) {
    auto loaded = config::load_file(file, c.default_plugin_dir);
    if (!loaded.config) {
        for (const auto& d : loaded.errors) std::cerr << d.str() << "\n";
        std::cerr << file.string() << ": " << loaded.errors.size() << " error(s)\n";
        return 1;
    }
    const auto& cfg = *loaded.config;
    config::Diagnostics errors;
    plugins::PluginRegistry registry(metrics::global(), c.isolate);
    registry.set_load_probe_timeout(cfg.host.load_probe_timeout);
    for (const auto& d : cfg.host.plugin_dirs)
        if (!std::filesystem::is_directory(d)) errors.push_back({cfg.file, {}, "plugin_dir " + d.string() + " is not a directory"});
    registry.scan(cfg.host.plugin_dirs);

    // A check must not leave directories behind in the real data_dir: instances (the pipelines'
    // too) get a scratch one, removed however the check ends.
    const util::ScratchDir scratch("herd-check-");
    config::Config probe_cfg = cfg;
    probe_cfg.host.data_dir = scratch.path();
    plugins::InstanceBuilder builder(probe_cfg, registry, {c.isolate, false});
    size_t kv = 0, disc = 0, sinks = 0;
    for (const auto& ic : cfg.instances) {
        config::Diagnostic d;
        builder.build(ic, &d);
        if (!d.message.empty()) errors.push_back(d);
        (ic.kind == HERD_KIND_KV ? kv : ic.kind == HERD_KIND_SINK ? sinks : disc)++;
    }
    auto pipeline_errors = runtime::check_pipelines(cfg, registry);
    if (pipeline_errors.empty()) {
        // Each pipeline kind checks what it would create (its strategy, affinity, sink instances).
        discovery::Manager discovery(metrics::global());  // nothing is started: it stays empty
        pipeline::Context ctx{probe_cfg, builder, discovery, metrics::global()};
        for (const auto& pc : cfg.pipelines)
            if (const auto* f = runtime::pipeline_factory(pc.kind))
                for (auto& d : f->check(pc, ctx)) errors.push_back(std::move(d));
    }
    for (auto& d : pipeline_errors) errors.push_back(std::move(d));

    if (!errors.empty()) {
        for (const auto& d : errors) std::cerr << d.str() << "\n";
        std::cerr << cfg.file << ": " << errors.size() << " error(s)\n";
        return 1;
    }
    std::cout << cfg.file << ": OK (" << kv << " kv, " << disc << " discovery, " << sinks << " sink, "
              << cfg.pipelines.size()
              << " pipelines; plugins from "
              << cfg.host.plugin_dirs_text() << "; admin " << cfg.host.admin << ")\n";
    return 0;
}

}  // namespace herd::cli

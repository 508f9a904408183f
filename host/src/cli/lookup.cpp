#include "cli/lookup.hpp"

#include "metrics/registry.hpp"
#include "plugins/plugin_registry.hpp"
#include "plugins/instance_builder.hpp"

#include <iostream>

namespace herd::cli {

const config::InstanceConfig* find_instance(const config::Config& cfg, herd_kind kind, const std::string& section,
                                            const std::string& name) {
    if (const auto* ic = cfg.find(kind, name)) return ic;
    std::string have;
    for (const auto& i : cfg.instances)
        if (i.kind == kind) have += (have.empty() ? "" : ", ") + i.name;
    std::cerr << cfg.file << ": no [[" << section << "]] named \"" << name << "\" (defined: " << (have.empty() ? "none" : have)
              << ")\n";
    return nullptr;
}

std::optional<OpenedInstance> open_instance(const Common& c, const std::filesystem::path& file, herd_kind kind,
                                            const std::string& section, const std::string& name,
                                            const std::optional<std::filesystem::path>& data_dir) {
    auto loaded = config::load_file(file, c.default_plugin_dir);
    if (!loaded.config) {
        for (const auto& d : loaded.errors) std::cerr << d.str() << "\n";
        return std::nullopt;
    }
    OpenedInstance out{std::move(*loaded.config), nullptr};
    std::optional<config::InstanceConfig> chosen;
    if (kind == HERD_KIND_KV && name.empty()) {  // no --kv: the only one, or the embedded store
        std::string why;
        chosen = out.cfg.default_kv(&why);
        if (!chosen) {
            std::cerr << why << " with --kv\n";
            return std::nullopt;
        }
    } else if (const auto* found = find_instance(out.cfg, kind, section, name)) {
        chosen = *found;
    } else {
        return std::nullopt;
    }
    const auto* ic = &*chosen;
    plugins::PluginRegistry registry(metrics::global(), c.isolate);
    registry.set_load_probe_timeout(out.cfg.host.load_probe_timeout);
    registry.scan(out.cfg.host.plugin_dirs);
    config::Config build_cfg = out.cfg;
    if (data_dir) build_cfg.host.data_dir = *data_dir;
    plugins::InstanceBuilder builder(build_cfg, registry, {c.isolate, true});
    config::Diagnostic err;
    out.instance = builder.build(*ic, &err);
    if (!out.instance) {
        std::cerr << err.str() << "\n";
        return std::nullopt;
    }
    return out;
}

const config::PipelineConfig* find_pipeline(const config::LoadResult& loaded, const std::filesystem::path& file,
                                            const std::string& kind, const std::string& name, const std::string& flag) {
    if (!loaded.config) {
        for (const auto& d : loaded.errors) std::cerr << d.str() << "\n";
        return nullptr;
    }
    const config::PipelineConfig* pc = nullptr;
    std::string names;
    for (const auto& p : loaded.config->pipelines)
        if (p.kind == kind) {
            names += (names.empty() ? "" : ", ") + p.name;
            if (name.empty() || p.name == name) pc = pc ? nullptr : &p;
        }
    if (!pc)
        std::cerr << file.string() << ": "
                  << (names.empty() ? "no [[" + kind + "]] table"
                                    : name.empty() ? "several [[" + kind + "]] (" + names + "): name one with " + flag
                                                   : "no [[" + kind + "]] named \"" + name + "\" (defined: " + names + ")")
                  << "\n";
    return pc;
}

}  // namespace herd::cli

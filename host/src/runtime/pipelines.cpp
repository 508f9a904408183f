#include "runtime/pipelines.hpp"

#include "dispatch/dispatch_pipeline.hpp"
#include "proxy/proxy_pipeline.hpp"
#include "sharding/sharding_pipeline.hpp"

namespace herd::runtime {

const pipeline::Factory* pipeline_factory(const std::string& kind) {
    static const std::vector<pipeline::Factory> table = {proxy::factory(), sharding::factory(), dispatch::factory()};
    for (const auto& f : table)
        if (f.kind == kind) return &f;
    return nullptr;
}

config::Diagnostics check_pipelines(const config::Config& cfg, const plugins::PluginRegistry& registry) {
    config::Diagnostics out;
    for (const auto& p : cfg.pipelines) {
        for (const auto& ref : p.plugin_refs) {
            auto plugin = registry.find(ref.plugin);
            std::string why;
            if (!plugin)
                why = registry.why_missing(ref.plugin, cfg.host.plugin_dirs_text());
            else
                plugin->find(ref.kind, ref.factory, &why);
            if (!why.empty())
                out.push_back({cfg.file, p.position_of(ref.key + ".plugin"), p.kind + " \"" + p.name + "\": " + ref.key + ": " + why});
        }
        if (!pipeline_factory(p.kind))
            out.push_back({cfg.file, p.where, "[[" + p.kind + "]] \"" + p.name + "\": no pipeline kind \"" + p.kind + "\""});
    }
    return out;
}

}  // namespace herd::runtime

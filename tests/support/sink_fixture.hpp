// A sink plugin instance driven through the ABI, as herd drives it (the host's SinkClient).
#pragma once

#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "sink/sink_client.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace herd::test {

struct Sink {
    std::unique_ptr<plugins::PluginRegistry> registry;
    std::unique_ptr<plugins::Instance> inst;
    std::unique_ptr<sink::SinkClient> client;
    std::string create_error;

    // `config` is the instance's table as JSON; `dir` its data and config directory.
    Sink(const std::string& plugin, const std::string& config, const fs::path& dir,
         const fs::path& from = test::plugin_dir()) {
        registry = std::make_unique<plugins::PluginRegistry>(metrics::global(), false);
        auto r = registry->load(from / (plugin + ".so"));
        INFO(r.refusal);
        REQUIRE(r.plugin);
        plugins::CreateError err;
        const herd_factory* f = nullptr;
        for (const auto* x : r.plugin->factories)
            if (x->kind == HERD_KIND_SINK) f = x;
        REQUIRE(f);
        inst = plugins::Instance::create(r.plugin, f, "s", config, dir, dir, &err);
        create_error = err.message;
        if (inst) client = std::make_unique<sink::SinkClient>(*inst);
    }
    sink::ApplyResult apply(const std::vector<sink::Item>& items) { return client->apply(items); }
    std::map<std::string, std::string> held() {
        std::map<std::string, std::string> out;
        for (auto& i : client->held()) out[i.name] = i.body;
        return out;
    }
};

inline sink::Item scrape_item(const std::string& name, const std::string& body) {
    return {name, HERD_SINK_SCRAPE_CONFIG, body};
}
inline sink::Item groups_item(const std::string& name, const std::string& body) {
    return {name, HERD_SINK_TARGET_GROUPS, body};
}

// Every regular file below dir (relative path -> content), dot files included.
inline std::map<std::string, std::string> files_in(const fs::path& dir) {
    std::map<std::string, std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); ++it)
        if (it->is_regular_file()) out[fs::relative(it->path(), dir).string()] = read_file(it->path());
    return out;
}

}  // namespace herd::test

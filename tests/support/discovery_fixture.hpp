// A discovery plugin instance run as herd runs it: loaded through the ABI, feeding the host's
// discovery manager. The shared fixture of the discovery plugins' tests.
#pragma once

#include "discovery/manager.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "runtime/discovery_runner.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

namespace herd::test {

struct RunningDiscovery {
    metrics::Registry reg;
    discovery::Manager manager{reg};
    std::unique_ptr<runtime::DiscoveryRunner> runner;
    std::string name;

    RunningDiscovery(const std::string& plugin, const std::string& config_json, const fs::path& dir, std::string instance = "sd")
        : name(std::move(instance)) {
        plugins::PluginRegistry plugins(reg, false);
        auto r = plugins.load(plugin_dir() / (plugin + ".so"));
        REQUIRE(r.plugin);
        plugins::CreateError err;
        auto inst = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), name, config_json, dir, dir, &err);
        INFO(err.message);
        REQUIRE(inst);
        runner = std::make_unique<runtime::DiscoveryRunner>(std::move(inst), manager);
        REQUIRE(runner->start().empty());
    }
    ~RunningDiscovery() { runner.reset(); }

    std::vector<discovery::TargetGroup> groups() const { return manager.groups(name); }
    std::set<std::string> addresses() const {
        std::set<std::string> out;
        for (const auto& g : manager.groups(name))
            for (const auto& t : g.targets) out.insert(t.at("__address__"));
        return out;
    }
    std::string last_error() const {
        auto s = manager.status(name);
        return s ? s->last_error : std::string();
    }
    bool failing() const {
        auto s = manager.status(name);
        return s && s->state == discovery::ProviderStatus::State::failing;
    }
};

}  // namespace herd::test

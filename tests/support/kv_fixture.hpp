// A KV plugin instance driven through the ABI, as herd drives it: the fixture of the KV tests
// beside each plugin and of the server-failure cases in tests/kv (the contract cases are the
// conformance kit's, tests/conformance).
#pragma once

#include "conformance/kv_driver.hpp"
#include "metrics/registry.hpp"
#include "plugins/host_services.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace herd::test {

namespace fs = std::filesystem;

// A kv instance made through the ABI, with the conformance kit's small helpers over its table.
struct Kv : conformance::KvDriver {
    metrics::Registry reg;
    std::unique_ptr<plugins::Instance> owned;
    using Result = conformance::KvResult;

    Kv(const fs::path& dir, const std::string& config = "{}", const std::string& plugin = "kv_sqlite") {
        plugins::PluginRegistry plugins(reg, false);
        auto r = plugins.load(test::plugin_dir() / (plugin + ".so"));
        REQUIRE(r.plugin);
        plugins::CreateError err;
        owned = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "kv", config, dir, dir, &err);
        INFO(err.message);
        REQUIRE(owned);
        inst = owned.get();
        ops = owned->factory().kv;
    }
    std::vector<std::string> list(std::string_view prefix, int64_t* rev = nullptr) {
        auto l = list_entries(prefix);
        INFO(l.message);
        REQUIRE(l.status == HERD_OK);
        if (rev) *rev = l.revision;
        return l.keys;
    }
};

// Collects what a watch delivers (the kit's KvWatcher, required to start).
struct Watcher : conformance::KvWatcher {
    Watcher(Kv& k, std::string_view prefix, int64_t from) : conformance::KvWatcher(k, prefix, from) {
        INFO(message);
        REQUIRE(status == HERD_OK);
    }
};

}  // namespace herd::test

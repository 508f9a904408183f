// sd_file as the host runs it: loaded through the ABI, watching real files.
#include "discovery/manager.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "runtime/discovery_runner.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace herd;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

struct Running {
    metrics::Registry reg;
    discovery::Manager manager{reg};
    std::unique_ptr<runtime::DiscoveryRunner> runner;

    Running(const std::string& config_json, const fs::path& dir) {
        plugins::PluginRegistry plugins(reg, false);
        auto r = plugins.load(test::plugin_dir() / "sd_file.so");
        REQUIRE(r.plugin);
        plugins::CreateError err;
        auto inst = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "files", config_json, dir, dir, &err);
        INFO(err.message);
        REQUIRE(inst);
        runner = std::make_unique<runtime::DiscoveryRunner>(std::move(inst), manager);
        REQUIRE(runner->start().empty());
    }
    ~Running() { runner.reset(); }

    std::set<std::string> addresses() const {
        std::set<std::string> out;
        for (const auto& g : manager.groups("files"))
            for (const auto& t : g.targets) out.insert(t.at("__address__"));
        return out;
    }
};

}  // namespace

TEST_CASE("sd_file serves static targets at once", "[sd_file]") {
    test::TempDir dir;
    Running r(R"({"targets":["a:1","b:2"],"labels":{"job":"prom"}})", dir.path());
    CHECK(r.addresses() == std::set<std::string>{"a:1", "b:2"});
    CHECK(r.manager.groups("files").at(0).labels.at("job") == "prom");
}

TEST_CASE("sd_file follows file_sd files as they are created, changed, broken and removed", "[sd_file]") {
    test::TempDir dir;
    test::write_file(dir / "sd/a.json", R"([{"targets":["a:1"]}])");
    Running r(R"({"files":["sd/*.json","sd/*.yml"], "refresh_interval":"1h"})", dir.path());
    CHECK(r.addresses() == std::set<std::string>{"a:1"});

    // A new file appears (atomically, as config management writes it).
    test::write_file_atomic(dir / "sd/b.yml", "- targets: ['b:1', 'b:2']\n");
    CHECK(test::eventually([&] { return r.addresses() == std::set<std::string>{"a:1", "b:1", "b:2"}; }));

    // A file is rewritten in place.
    test::write_file(dir / "sd/a.json", R"([{"targets":["a:9"]}])");
    CHECK(test::eventually([&] { return r.addresses() == std::set<std::string>{"a:9", "b:1", "b:2"}; }));

    // A file breaks: its last good targets stay and the error is reported.
    test::write_file(dir / "sd/a.json", R"([{"targets":["a:10"], "oops": true}])");
    CHECK(test::eventually([&] {
        auto s = r.manager.status("files");
        return s && s->state == discovery::ProviderStatus::State::failing;
    }));
    CHECK_THAT(r.manager.status("files")->last_error, Contains("a.json: group 0: unknown field \"oops\""));
    CHECK(r.addresses() == std::set<std::string>{"a:9", "b:1", "b:2"});
    CHECK_THAT(r.reg.render(), Contains("herd_sd_file_read_errors_total{discovery=\"files\"} "));

    // Fixed again: healthy, new targets.
    test::write_file(dir / "sd/a.json", R"([{"targets":["a:11"]}])");
    CHECK(test::eventually([&] {
        auto s = r.manager.status("files");
        return s->state == discovery::ProviderStatus::State::healthy && r.addresses().count("a:11");
    }));

    // A file is removed: its groups vanish.
    fs::remove(dir / "sd/b.yml");
    CHECK(test::eventually([&] { return r.addresses() == std::set<std::string>{"a:11"}; }));
}

TEST_CASE("sd_file reads an endpoints file and keeps the last good list when it breaks", "[sd_file]") {
    test::TempDir dir;
    test::write_file(dir / "endpoints", "http://10.0.0.1:9090\n10.0.0.2:9090\n");
    Running r(R"({"endpoints_file":"endpoints","refresh_interval":"1h"})", dir.path());
    CHECK(r.addresses() == std::set<std::string>{"10.0.0.1:9090", "10.0.0.2:9090"});
    test::write_file(dir / "endpoints", "10.0.0.3:9090\ngarbage here\n");
    CHECK(test::eventually([&] {
        auto s = r.manager.status("files");
        return s->state == discovery::ProviderStatus::State::failing;
    }));
    CHECK_THAT(r.manager.status("files")->last_error, Contains("line 2"));
    CHECK(r.addresses() == std::set<std::string>{"10.0.0.1:9090", "10.0.0.2:9090"});
    test::write_file(dir / "endpoints", "10.0.0.3:9090\n");
    CHECK(test::eventually([&] { return r.addresses() == std::set<std::string>{"10.0.0.3:9090"}; }));
}

TEST_CASE("sd_file finds a directory that appears later, on its refresh interval", "[sd_file]") {
    test::TempDir dir;
    Running r(R"({"files":["later/*.json"],"refresh_interval":"200ms"})", dir.path());
    CHECK(r.addresses().empty());
    test::write_file(dir / "later/x.json", R"([{"targets":["x:1"]}])");
    CHECK(test::eventually([&] { return r.addresses() == std::set<std::string>{"x:1"}; }));
}

// The loader against fixture plugins: what loads, what is refused, and what each refusal says.
#include "discovery/manager.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "runtime/discovery_runner.hpp"
#include "support.hpp"
#include "util/child_process.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace herd;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

fs::path fixture(const std::string& name) { return test::fixture_dir() / (name + ".so"); }

plugins::FileReport load(const std::string& name, bool isolate = false) {
    util::set_probe_executable(test::herd_binary());
    static metrics::Registry reg;
    plugins::PluginRegistry r(reg, isolate);
    return r.load(fixture(name));
}

// Starts one discovery instance of `plugin` and returns the addresses it reported.
std::vector<std::string> addresses_from(const std::shared_ptr<plugins::LoadedPlugin>& plugin) {
    metrics::Registry reg;
    discovery::Manager manager(reg);
    test::TempDir dir;
    plugins::CreateError err;
    auto inst = plugins::Instance::create(plugin, plugin->factories.at(0), "fx", "{}", dir.path(), dir.path(), &err);
    REQUIRE(inst);
    runtime::DiscoveryRunner runner(std::move(inst), manager);
    REQUIRE(runner.start().empty());
    std::vector<std::string> out;
    for (const auto& g : manager.groups("fx"))
        for (const auto& t : g.targets) out.push_back(t.at("__address__"));
    return out;
}

}  // namespace

TEST_CASE("a plugin built for an older minor loads and works", "[abi]") {
    auto r = load("old_minor");
    REQUIRE(r.plugin);
    CHECK(r.plugin->abi_major == 1);
    CHECK(r.plugin->abi_minor == 0);
    CHECK(r.plugin->abi_minor < HERD_ABI_MINOR);
    CHECK(addresses_from(r.plugin) == std::vector<std::string>{"127.0.0.1:1000"});
}

TEST_CASE("a plugin built for ABI 1.1 (its factory ends before the 1.2 sink pointer) loads and works", "[abi]") {
    auto r = load("minor_1_1");
    INFO(r.refusal);
    REQUIRE(r.plugin);
    CHECK(r.plugin->abi_minor == 1);
    CHECK(addresses_from(r.plugin) == std::vector<std::string>{"127.0.0.1:1011"});
}

TEST_CASE("a real plugin built against the 1.1 SDK runs in the 1.2 host exactly as its 1.2 build", "[abi]") {
    auto old_build = load("selector_abi_1_1");
    INFO(old_build.refusal);
    REQUIRE(old_build.plugin);
    CHECK(old_build.plugin->abi_minor == 1);
    metrics::Registry reg;
    plugins::PluginRegistry current_registry(reg, false);
    auto current = current_registry.load(test::plugin_dir() / "selector.so");
    REQUIRE(current.plugin);
    CHECK(current.plugin->abi_minor == HERD_ABI_MINOR);
    // The same decision from both builds: single-most-data over the same three backends.
    auto decide = [](const std::shared_ptr<plugins::LoadedPlugin>& p) {
        const herd_factory* f = nullptr;
        for (const auto* x : p->factories)
            if (std::string(x->name) == "single-most-data") f = x;
        REQUIRE(f);
        test::TempDir dir;
        plugins::CreateError err;
        auto inst = plugins::Instance::create(p, f, "s", "{}", dir.path(), dir.path(), &err);
        REQUIRE(inst);
        std::string ids[3] = {"http://a:1", "http://b:1", "http://c:1"};
        herd_backend b[3];
        herd_backend_stats st[3];
        const herd_backend_stats* ptrs[3];
        const double samples[3] = {100, 5000, 300};
        for (int i = 0; i < 3; ++i) {
            b[i] = {{sizeof(herd_backend), 1, 1}, {ids[i].data(), ids[i].size()}, {ids[i].data() + 7, 3}, {"{}", 2}};
            st[i] = {{sizeof(herd_backend_stats), 1, 1}, &b[i], HERD_STAT_READY | HERD_STAT_HEAD_SAMPLES | HERD_STAT_STORAGE_BYTES,
                     1, 0, samples[i], 0, 0, 0};
            ptrs[i] = &st[i];
        }
        uint8_t eligible[3] = {};
        double score[3] = {};
        REQUIRE(f->selector->select(inst->handle(), ptrs, 3, eligible, score, nullptr) == HERD_OK);
        return std::vector<uint8_t>(eligible, eligible + 3);
    };
    CHECK(decide(old_build.plugin) == std::vector<uint8_t>{0, 1, 0});
    CHECK(decide(old_build.plugin) == decide(current.plugin));
}

TEST_CASE("a plugin declaring a kind this host does not know is refused, the kind named", "[abi]") {
    auto r = load("unknown_kind");
    REQUIRE_FALSE(r.plugin);
    CHECK_THAT(r.refusal, Contains("declares kind 99") && Contains("does not know") && Contains("upgrade herd"));
    auto small = load("sink_too_small");
    REQUIRE_FALSE(small.plugin);
    CHECK_THAT(small.refusal, Contains("declares kind sink") && Contains("ends before the sink operations"));
}

TEST_CASE("a plugin built for a newer minor is refused, naming both versions", "[abi]") {
    auto r = load("future_minor");
    REQUIRE_FALSE(r.plugin);
    const std::string host = std::to_string(HERD_ABI_MAJOR) + "." + std::to_string(HERD_ABI_MINOR);
    const std::string plugin = std::to_string(HERD_ABI_MAJOR) + "." + std::to_string(HERD_ABI_MINOR + 1);
    CHECK_THAT(r.refusal, Contains("plugin ABI " + plugin) && Contains("herd's ABI " + host) && Contains("upgrade herd"));
}

TEST_CASE("a plugin built for another major is refused", "[abi]") {
    auto r = load("wrong_major");
    REQUIRE_FALSE(r.plugin);
    CHECK_THAT(r.refusal, Contains("plugin ABI " + std::to_string(HERD_ABI_MAJOR + 1) + ".0") &&
                              Contains("major version must match") && Contains("rebuild the plugin"));
}

TEST_CASE("a shared object without herd_plugin_entry is refused", "[abi]") {
    auto r = load("no_entry");
    REQUIRE_FALSE(r.plugin);
    CHECK_THAT(r.refusal, Contains("does not export herd_plugin_entry"));
}

TEST_CASE("a text file named .so is refused as not a shared object", "[abi]") {
    auto r = load("not_elf");
    REQUIRE_FALSE(r.plugin);
    CHECK_THAT(r.refusal, Contains("not a shared object"));
}

TEST_CASE("an entry point that returns no descriptor is refused", "[abi]") {
    auto r = load("null_descriptor");
    REQUIRE_FALSE(r.plugin);
    CHECK_THAT(r.refusal, Contains("returned no descriptor"));
}

TEST_CASE("a plugin that crashes while loading is refused and the host lives", "[abi][isolation]") {
    auto r = load("crash_entry", /*isolate=*/true);
    REQUIRE_FALSE(r.plugin);
    // Under AddressSanitizer the child reports the SEGV and exits instead of dying by the signal.
    CHECK_THAT(r.refusal, Contains("crashed while loading with SIGSEGV") || Contains("gave no answer"));
}

TEST_CASE("two plugins with the same internal symbol names each keep their own", "[abi]") {
    auto a = load("clash_a");
    auto b = load("clash_b");
    REQUIRE(a.plugin);
    REQUIRE(b.plugin);
    CHECK(addresses_from(a.plugin) == std::vector<std::string>{"127.0.0.1:2001"});
    CHECK(addresses_from(b.plugin) == std::vector<std::string>{"127.0.0.1:2002"});
}

TEST_CASE("two files providing one plugin name: the second is refused", "[abi]") {
    test::TempDir dir;
    fs::copy_file(fixture("old_minor"), dir / "a.so");
    fs::copy_file(fixture("old_minor"), dir / "b.so");
    metrics::Registry reg;
    plugins::PluginRegistry r(reg, false);
    auto reports = r.scan(dir.path());
    REQUIRE(reports.size() == 2);
    CHECK(reports[0].plugin);
    REQUIRE_FALSE(reports[1].plugin);
    CHECK_THAT(reports[1].refusal, Contains("plugin name \"old_minor\" is already provided by") && Contains("a.so"));
}

TEST_CASE("create() that throws becomes an error with the exception's text", "[abi]") {
    auto r = load("throwing_create");
    REQUIRE(r.plugin);
    test::TempDir dir;
    plugins::CreateError err;
    auto inst = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "t", R"({"fail":"exception"})",
                                          dir.path(), dir.path(), &err);
    CHECK_FALSE(inst);
    CHECK(err.status == HERD_ERR_INTERNAL);
    CHECK_THAT(err.message, Contains("the frobnicator is on fire"));

    auto inst2 = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "t", R"({"fail":"config"})",
                                           dir.path(), dir.path(), &err);
    CHECK_FALSE(inst2);
    CHECK(err.status == HERD_ERR_INVALID_ARGUMENT);
    CHECK(err.key == "nested.ports[1]");
    CHECK_THAT(err.message, Contains("out of range"));

    auto ok = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "t", R"({"fail":"none"})",
                                        dir.path(), dir.path(), &err);
    CHECK(ok);
}

TEST_CASE("a plugin that crashes in create is reported by the create probe", "[abi][isolation]") {
    auto r = load("crash_create");
    REQUIRE(r.plugin);
    test::TempDir dir;
    plugins::CreateError err;
    CHECK_FALSE(plugins::probe_create(*r.plugin, *r.plugin->factories.at(0), std::chrono::seconds(30), "c", "{}", dir.path(), dir.path(), &err));
    CHECK_THAT(err.message, Contains("crashed in create with SIGSEGV") || Contains("gave no answer"));
}

TEST_CASE("plugins export exactly one symbol: herd_plugin_entry", "[abi]") {
    std::vector<fs::path> files{test::plugin_dir() / "sd_file.so", test::plugin_dir() / "selector.so",
                                test::plugin_dir() / "affinity.so", fixture("clash_a"), fixture("throwing_create")};
    for (const auto& f : files) {
        INFO(f.string());
        auto r = test::run({"nm", "-D", "--defined-only", f.string()});
        REQUIRE(r.code == 0);
        std::vector<std::string> symbols;
        std::istringstream in(r.out);
        std::string addr, type, name;
        while (in >> addr >> type >> name) symbols.push_back(name);
        CHECK(symbols == std::vector<std::string>{"herd_plugin_entry"});
    }
}

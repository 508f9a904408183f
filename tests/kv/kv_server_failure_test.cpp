// Every KV plugin when its server stops, restarts or goes silent: kv_sqlite (a file), kv_etcd (a
// real etcd from Debian) and kv_consul (the Consul double, which lives in this process). The
// stop/restart cases are the conformance kit's own (kv.server_down, kv.restart_watch,
// kv.restart_cas), run here with the server in hand; what only this side can do stays here: a
// silent Consul, SQLite's write lock, each backend's documented size limit.
#include "consul_double.hpp"
#include "etcd_server.hpp"
#include "conformance/suite.hpp"
#include "kv_fixture.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <sqlite3.h>


using namespace herd;
using Catch::Matchers::Contains;
using test::Kv;

namespace {

struct Sqlite {
    static constexpr const char* plugin = "kv_sqlite";
    static constexpr size_t max_value = 0;  // no limit of its own short of SQLite's 1 GB
    test::TempDir dir;
    std::string path() const { return (dir / "kv.sqlite").string(); }
    std::string config(const std::string& timeout = "2s") const {
        return R"({"path": ")" + path() + R"(", "poll_interval": "20ms", "timeout": ")" + timeout + R"("})";
    }
};

struct Etcd {
    static constexpr const char* plugin = "kv_etcd";
    static constexpr size_t max_value = 1572864 - 4096;  // etcd's default request limit, 1.5 MiB, less the request's own bytes
    test::EtcdServer etcd;
    std::string config(const std::string& timeout = "2s") const {
        return R"({"endpoints": [")" + etcd.url() + R"("], "prefix": "conf/", "timeout": ")" + timeout + R"("})";
    }
    void stop() { etcd.stop(); }
    void start() { etcd.start(); }
};

struct Consul {
    static constexpr const char* plugin = "kv_consul";
    static constexpr size_t max_value = 512u * 1024;
    test::ConsulDouble consul;
    std::string config(const std::string& timeout = "2s") const {
        return R"({"address": ")" + consul.address() + R"(", "prefix": "conf/", "timeout": ")" + timeout +
               R"(", "watch_wait": "2s", "watch_rate": 100})";
    }
    void stop() { consul.stop(); }
    void start() { consul.start(); }
};

}  // namespace

#define KV_FAILURE(name) TEMPLATE_TEST_CASE("kv server failure: " name, "[kv][failure]", Sqlite, Etcd, Consul)

KV_FAILURE("a value at the backend's documented limit is taken, one just over it is TOO_LARGE") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config(), TestType::plugin);
    const std::string mib(1 << 20, 'm');
    if (TestType::max_value == 0 || mib.size() <= TestType::max_value) {
        REQUIRE(kv.put("big", mib).status == HERD_OK);
        CHECK(kv.get("big")->first == mib);
    }
    if (TestType::max_value > 0) {
        const std::string at_limit(std::min<size_t>(TestType::max_value, 1 << 20), 'l');
        REQUIRE(kv.put("limit", at_limit).status == HERD_OK);
        CHECK(kv.get("limit")->first == at_limit);
        auto r = kv.put("over", std::string(TestType::max_value + 8192, 'o'));
        CHECK(r.status == HERD_ERR_TOO_LARGE);
        CHECK_THAT(r.message, Contains("\"over\""));
        CHECK_FALSE(kv.get("over"));
    }
}


TEST_CASE("kv server failure: kv_sqlite when another process holds the write lock: a clear error in time, nothing written", "[kv][failure]") {
    Sqlite b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config("1s"), Sqlite::plugin);
    REQUIRE(kv.put("k", "v").status == HERD_OK);
    // The file's analogue of a silent server.
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(b.path().c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = kv.put("k", "w");
    CHECK(r.status != HERD_OK);
    CHECK_THAT(r.message, Contains("locked") && Contains("\"k\""));
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4));
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);
    CHECK(kv.get("k")->first == "v");  // nothing partially written
}

TEST_CASE("kv server failure: kv_consul against a server that accepts and never answers: TIMEOUT in time", "[kv][failure]") {
    Consul b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config("1s"), Consul::plugin);
    REQUIRE(kv.put("k", "v").status == HERD_OK);
    b.consul.server().stall(true);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = kv.put("k", "w");
    b.consul.server().stall(false);
    CHECK(r.status == HERD_ERR_TIMEOUT);
    CHECK_THAT(r.message, Contains(b.consul.address()) && Contains("\"k\""));
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4));
}

// The conformance kit's server-failure cases, run here with the server in this process's hands
// (plugin authors run the same cases with --stop-command / --start-command).
TEMPLATE_TEST_CASE("kv server failure: the kit's cases (down, a watch across a restart, CAS across a restart)", "[kv][failure]",
                   Etcd, Consul) {
    TestType b;
    test::TempDir dir;
    metrics::Registry reg;
    plugins::PluginRegistry registry(reg, false);
    auto loaded = registry.load(test::plugin_dir() / (std::string(TestType::plugin) + ".so"));
    REQUIRE(loaded.plugin);
    conformance::Options o;
    o.kind = HERD_KIND_KV;
    o.config_json = b.config("1s");
    o.wait = std::chrono::seconds(4);
    for (const char* id : {"kv.server_down", "kv.restart_watch", "kv.restart_cas"}) {
        const auto* kit_case = conformance::find_case(HERD_KIND_KV, id);
        REQUIRE(kit_case);
        conformance::Context ctx(o, loaded.plugin, loaded.plugin->factories.at(0), dir.path());
        ctx.stop_hook = [&] { b.stop(); };
        ctx.start_hook = [&] { b.start(); };
        const bool passed = conformance::run_here(*kit_case, ctx);
        std::string said;
        for (const auto& v : ctx.verdicts) said += v + "\n";
        INFO(id << "\n" << said);
        CHECK(passed);
        CHECK(said.find("S: ") == std::string::npos);  // it ran, it did not skip
    }
}

// kv_sqlite through the ABI (as herd uses it) and its store directly: what the KV conformance
// suite (tests/kv) does not cover — sharing a file, history, lease expiry, kill -9, configuration.
#include "kv_fixture.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "sqlite_store.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

using namespace herd;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

using test::Kv;
using test::Watcher;

TEST_CASE("kv_sqlite: a watch delivers every later change in order, and a second instance sees them", "[kv]") {
    test::TempDir dir;
    Kv writer(dir.path()), reader(dir.path());  // two connections to one file, as two processes
    const int64_t start = writer.put("w/0", "before").revision;
    Watcher w(reader, "w/", start);
    std::vector<int64_t> expect;
    for (int i = 1; i <= 20; ++i) expect.push_back(writer.put("w/" + std::to_string(i), "v").revision);
    writer.put("other/x", "not under the prefix");
    expect.push_back(writer.del("w/3").revision);
    REQUIRE(test::eventually([&] { return w.count() == 21; }));
    std::lock_guard lk(w.mu);
    std::vector<int64_t> got;
    for (auto& [type, key, rev] : w.events) got.push_back(rev);
    CHECK(got == expect);  // no gap, no duplicate, in order
    CHECK(std::get<0>(w.events.back()) == HERD_KV_EVENT_DELETE);
    CHECK(std::get<1>(w.events.back()) == "w/3");
    CHECK(w.resets.empty());
}

TEST_CASE("kv_sqlite: a watch from before the retained history is reset", "[kv]") {
    test::TempDir dir;
    Kv kv(dir.path(), R"({"history": 5})");
    for (int i = 0; i < 20; ++i) kv.put("h/" + std::to_string(i), "v");
    Watcher w(kv, "h/", 1);
    REQUIRE(test::eventually([&] {
        std::lock_guard lk(w.mu);
        return !w.resets.empty();
    }));
    const int64_t after = kv.put("h/new", "v").revision;
    REQUIRE(test::eventually([&] { return w.count() == 1; }));
    std::lock_guard lk(w.mu);
    CHECK(w.resets.front() == after - 1);
    CHECK(std::get<2>(w.events.front()) == after);
}

TEST_CASE("kv_sqlite: keys of an expired lease vanish: a revoked lease takes its keys at once", "[kv]") {
    test::TempDir dir;
    Kv kv(dir.path(), R"({"poll_interval": "20ms"})");
    plugins::ErrorCapture err;
    int64_t lease = 0;
    REQUIRE(kv.ops->lease_grant(kv.inst->handle(), 300, &lease, err.get()) == HERD_OK);
    REQUIRE(kv.put("eph/a", "1", HERD_KV_EXPECT_ANY, lease).status == HERD_OK);
    REQUIRE(kv.put("eph/b", "2", HERD_KV_EXPECT_ANY, lease).status == HERD_OK);
    CHECK(kv.put("eph/c", "3", HERD_KV_EXPECT_ANY, 12345).status == HERD_ERR_NOT_FOUND);
    // Kept alive, the keys stay past the TTL...
    for (int i = 0; i < 3; ++i) {
        REQUIRE(kv.ops->lease_keepalive(kv.inst->handle(), lease, err.get()) == HERD_OK);
        std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the TTL itself is what is tested
    }
    CHECK(kv.get("eph/a"));
    // ...and go once keepalives stop.
    CHECK(test::eventually([&] { return !kv.get("eph/a") && !kv.get("eph/b"); }, std::chrono::seconds(5)));
    CHECK(kv.ops->lease_keepalive(kv.inst->handle(), lease, err.get()) == HERD_ERR_NOT_FOUND);

    int64_t second = 0;
    REQUIRE(kv.ops->lease_grant(kv.inst->handle(), 60000, &second, err.get()) == HERD_OK);
    kv.put("eph/x", "1", HERD_KV_EXPECT_ANY, second);
    kv.put("eph/y", "1", HERD_KV_EXPECT_ANY, second);
    REQUIRE(kv.ops->lease_revoke(kv.inst->handle(), second, err.get()) == HERD_OK);
    CHECK_FALSE(kv.get("eph/x"));
    CHECK_FALSE(kv.get("eph/y"));
}

TEST_CASE("kv_sqlite: nothing acknowledged is lost to kill -9", "[kv]") {
    test::TempDir dir;
    const auto db = (dir / "kv.sqlite").string();
    test::Process writer({KV_WRITER, db, "100000"}, dir.path(), "writer");
    auto acknowledged = [&] {
        std::istringstream in(writer.out());
        std::string line;
        int n = 0;
        while (std::getline(in, line))
            if (!in.eof()) ++n;  // only complete lines: a write whose answer was fully printed
        return n;
    };
    REQUIRE(test::eventually([&] { return acknowledged() >= 200; }, std::chrono::seconds(60)));
    writer.signal(SIGKILL);
    writer.wait(std::chrono::seconds(10));
    const int acked = acknowledged();
    kv_sqlite::Store store(db, std::chrono::seconds(5), 1000000);
    for (int i = 0; i < acked; ++i) {
        INFO("k" << i);
        REQUIRE(store.get("k" + std::to_string(i)));
    }
    CHECK(store.revision() >= acked);
}

TEST_CASE("kv_sqlite: configuration errors name the key", "[kv]") {
    test::TempDir dir;
    metrics::Registry reg;
    plugins::PluginRegistry plugins(reg, false);
    auto r = plugins.load(test::plugin_dir() / "kv_sqlite.so");
    REQUIRE(r.plugin);
    plugins::CreateError err;
    CHECK_FALSE(plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "kv", R"({"histroy": 5})", dir.path(),
                                          dir.path(), &err));
    CHECK(err.key == "histroy");
    CHECK_FALSE(plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "kv", R"({"path": "/nonexistent/dir/kv.sqlite"})",
                                          dir.path(), dir.path(), &err));
    CHECK_THAT(err.message, Contains("cannot open /nonexistent/dir/kv.sqlite"));
}

TEST_CASE("kv_sqlite: processes opening one new file at the same moment all succeed", "[kv]") {
    // Found by the election test: of three processes starting together, one failed to switch the
    // fresh file to WAL ("database is locked"). Each round: six writer processes, one new file.
    for (int round = 0; round < 8; ++round) {
        test::TempDir dir;
        const auto db = (dir / "shared.sqlite").string();
        std::vector<std::unique_ptr<test::Process>> writers;
        for (int p = 0; p < 6; ++p)
            writers.push_back(std::make_unique<test::Process>(std::vector<std::string>{KV_WRITER, db, "1"}, dir.path(),
                                                              "writer-" + std::to_string(p)));
        for (auto& w : writers) {
            INFO(w->err());
            REQUIRE(w->wait(std::chrono::seconds(30)) == 0);
        }
    }
}

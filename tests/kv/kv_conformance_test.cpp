// One KV conformance suite, the same cases against every KV plugin through the ABI: kv_sqlite (a
// file), kv_etcd (a real etcd from Debian) and kv_consul (the Consul double). Where a backend
// cannot do what another can (Consul keeps no history, refuses binary keys and values over
// 512 KiB), the case asserts the backend's documented answer instead: a clear error, nothing
// written, or a watch that converges on the store's state.
#include "consul_double.hpp"
#include "etcd_server.hpp"
#include "kv_fixture.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <map>
#include <set>
#include <thread>

using namespace herd;
using Catch::Matchers::Contains;
using test::Kv;
using test::Watcher;

namespace {

struct Sqlite {
    static constexpr const char* plugin = "kv_sqlite";
    static constexpr bool history = true;      // a watch delivers every single write
    static constexpr bool binary_keys = true;
    static constexpr size_t max_value = 0;  // no limit of its own short of SQLite's 1 GB
    static constexpr bool server = false;
    test::TempDir dir;
    std::string path() const { return (dir / "kv.sqlite").string(); }
    std::string config(const std::string& timeout = "2s") const {
        return R"({"path": ")" + path() + R"(", "poll_interval": "20ms", "timeout": ")" + timeout + R"("})";
    }
    void restart() {}
};

struct Etcd {
    static constexpr const char* plugin = "kv_etcd";
    static constexpr bool history = true;
    static constexpr bool binary_keys = true;
    static constexpr size_t max_value = 1572864 - 4096;  // etcd's default request limit, 1.5 MiB, less the request's own bytes
    static constexpr bool server = true;
    test::EtcdServer etcd;
    std::string config(const std::string& timeout = "2s") const {
        return R"({"endpoints": [")" + etcd.url() + R"("], "prefix": "conf/", "timeout": ")" + timeout + R"("})";
    }
    void restart() {
        etcd.stop();
        etcd.start();
    }
    void stop() { etcd.stop(); }
    std::string down_config(const std::string& timeout) const { return config(timeout); }
};

struct Consul {
    static constexpr const char* plugin = "kv_consul";
    static constexpr bool history = false;     // blocking queries see the present: writes coalesce
    static constexpr bool binary_keys = false; // Consul takes A-Z a-z 0-9 , - _ . / only
    static constexpr size_t max_value = 512u * 1024;
    static constexpr bool server = true;
    test::ConsulDouble consul;
    std::string config(const std::string& timeout = "2s") const {
        return R"({"address": ")" + consul.address() + R"(", "prefix": "conf/", "timeout": ")" + timeout +
               R"(", "watch_wait": "2s", "watch_rate": 100})";
    }
    void restart() {
        consul.stop();
        consul.start();
    }
    void stop() { consul.stop(); }
};

std::vector<int64_t> revisions(Watcher& w) {
    std::lock_guard lk(w.mu);
    std::vector<int64_t> out;
    for (auto& [type, key, rev] : w.events) out.push_back(rev);
    return out;
}

// What the events say the store holds: key -> revision of its last put (deleted keys absent).
std::map<std::string, int64_t> replay(Watcher& w, std::map<std::string, int64_t> state = {}) {
    std::lock_guard lk(w.mu);
    for (auto& [type, key, rev] : w.events) {
        if (type == HERD_KV_EVENT_PUT) state[key] = rev;
        else state.erase(key);
    }
    return state;
}

std::map<std::string, int64_t> listing(Kv& kv, const std::string& prefix) {
    std::map<std::string, int64_t> out;
    for (const auto& k : kv.list(prefix)) out[k] = kv.get(k)->second;
    return out;
}

}  // namespace

#define KV_CONFORMANCE(name) TEMPLATE_TEST_CASE("kv conformance: " name, "[kv][conformance]", Sqlite, Etcd, Consul)

KV_CONFORMANCE("get, put, list, delete: revisions strictly increase") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config(), TestType::plugin);
    auto a = kv.put("a/1", "one");
    auto c = kv.put("a/2", "two");
    auto d = kv.put("b/1", "three");
    REQUIRE((a.status == HERD_OK && c.status == HERD_OK && d.status == HERD_OK));
    CHECK(a.revision < c.revision);
    CHECK(c.revision < d.revision);
    CHECK(kv.get("a/1") == std::make_pair(std::string("one"), a.revision));  // the revision put returned is the key's
    CHECK_FALSE(kv.get("nope"));
    int64_t rev = 0;
    CHECK(kv.list("a/", &rev) == std::vector<std::string>{"a/1", "a/2"});
    CHECK(rev >= c.revision);
    CHECK(kv.list("zzz/").empty());
    auto over = kv.put("a/1", "uno");
    CHECK(over.revision > d.revision);
    CHECK(kv.get("a/1")->first == "uno");
    auto gone = kv.del("a/1");
    REQUIRE(gone.status == HERD_OK);
    CHECK(gone.revision > over.revision);
    CHECK_FALSE(kv.get("a/1"));
    auto again = kv.del("a/1");
    CHECK(again.status == HERD_ERR_NOT_FOUND);
    CHECK_THAT(again.message, Contains("a/1"));
    CHECK(kv.put("a/3", "x").revision > gone.revision);
}

KV_CONFORMANCE("compare-and-swap: create-if-absent, match, conflict") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config(), TestType::plugin);
    auto created = kv.put("c", "1", HERD_KV_EXPECT_ABSENT);
    REQUIRE(created.status == HERD_OK);
    auto twice = kv.put("c", "2", HERD_KV_EXPECT_ABSENT);
    CHECK(twice.status == HERD_ERR_CONFLICT);
    CHECK_THAT(twice.message, Contains("\"c\"") && Contains("expected absent") && Contains(std::to_string(created.revision)));
    auto swapped = kv.put("c", "3", created.revision);
    REQUIRE(swapped.status == HERD_OK);
    CHECK(swapped.revision > created.revision);
    CHECK(kv.put("c", "4", created.revision).status == HERD_ERR_CONFLICT);  // stale
    CHECK(kv.get("c")->first == "3");
    CHECK(kv.put("missing", "x", 12345).status == HERD_ERR_CONFLICT);
    CHECK_FALSE(kv.get("missing"));
    CHECK(kv.del("c", created.revision).status == HERD_ERR_CONFLICT);
    CHECK(kv.get("c"));
    CHECK(kv.del("c", swapped.revision).status == HERD_OK);
    CHECK_FALSE(kv.get("c"));
    CHECK(kv.del("c", swapped.revision).status == HERD_ERR_NOT_FOUND);
}

KV_CONFORMANCE("8 threads doing CAS increments on one key lose no update") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config(), TestType::plugin);
    REQUIRE(kv.put("counter", "0").status == HERD_OK);
    std::vector<std::thread> threads;
    std::atomic<int> unexpected{0};
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 15 && unexpected == 0;) {
                auto cur = kv.get("counter");
                if (!cur) {
                    ++unexpected;
                    break;
                }
                auto r = kv.put("counter", std::to_string(std::stoi(cur->first) + 1), cur->second);
                if (r.status == HERD_OK) ++i;
                else if (r.status != HERD_ERR_CONFLICT) ++unexpected;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(unexpected == 0);
    CHECK(kv.get("counter")->first == "120");
}

KV_CONFORMANCE("a watch from a listing's revision delivers every later change, in order, no gap, no duplicate") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config(), TestType::plugin);
    kv.put("w/old", "before");
    kv.put("w/doomed", "before");
    int64_t from = 0;
    const auto start = listing(kv, "w/");
    kv.list("w/", &from);
    Watcher w(kv, "w/", from);

    // Step by step (each change seen before the next is made): every backend delivers each one.
    std::vector<int64_t> expect;
    for (int i = 0; i < 5; ++i) {
        expect.push_back(kv.put("w/" + std::to_string(i), "v").revision);
        REQUIRE(test::eventually([&] { return w.count() == expect.size(); }));
    }
    kv.put("elsewhere", "not under the prefix");
    expect.push_back(kv.del("w/doomed").revision);
    REQUIRE(test::eventually([&] { return w.count() == expect.size(); }));
    CHECK(revisions(w) == expect);
    {
        std::lock_guard lk(w.mu);
        CHECK(std::get<0>(w.events.back()) == HERD_KV_EVENT_DELETE);
        CHECK(std::get<1>(w.events.back()) == "w/doomed");
    }

    // A burst: history backends deliver every write; Consul coalesces writes between two answers
    // but still delivers in revision order, no duplicate, and ends where the store ends.
    std::vector<int64_t> burst;
    for (int i = 0; i < 30; ++i) burst.push_back(kv.put("w/b" + std::to_string(i % 7), std::to_string(i)).revision);
    burst.push_back(kv.del("w/b3").revision);
    const auto final_state = listing(kv, "w/");
    REQUIRE(test::eventually([&] { return replay(w, start) == final_state; }));
    const auto got = revisions(w);
    CHECK(std::is_sorted(got.begin(), got.end()));
    std::set<std::tuple<herd_kv_event_type, std::string, int64_t>> unique;
    {
        std::lock_guard lk(w.mu);
        unique.insert(w.events.begin(), w.events.end());
        CHECK(unique.size() == w.events.size());
    }
    if constexpr (TestType::history) {
        std::vector<int64_t> all = expect;
        all.insert(all.end(), burst.begin(), burst.end());
        CHECK(got == all);
    }
    std::lock_guard lk(w.mu);
    CHECK(w.resets.empty());
}

KV_CONFORMANCE("a watch survives the server restarting: it resumes, or relists and says so") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config(), TestType::plugin);
    int64_t from = 0;
    kv.put("r/0", "v");
    const auto start = listing(kv, "r/");
    kv.list("r/", &from);
    Watcher w(kv, "r/", from);
    kv.put("r/1", "v");
    REQUIRE(test::eventually([&] { return w.count() == 1; }));

    b.restart();
    for (int i = 2; i < 6; ++i) REQUIRE(kv.put("r/" + std::to_string(i), "v").status == HERD_OK);
    kv.del("r/0");
    const auto final_state = listing(kv, "r/");
    auto reset_said = [&] {
        std::lock_guard lk(w.mu);
        return !w.resets.empty();
    };
    REQUIRE(test::eventually([&] { return reset_said() || replay(w, start) == final_state; }, std::chrono::seconds(30)));
    if (!reset_said()) {  // resumed: in order, no duplicate, and (above) no gap
        const auto got = revisions(w);
        CHECK(std::is_sorted(got.begin(), got.end()));
        std::lock_guard lk(w.mu);
        std::set<std::tuple<herd_kv_event_type, std::string, int64_t>> unique(w.events.begin(), w.events.end());
        CHECK(unique.size() == w.events.size());
        if constexpr (TestType::history) CHECK(w.events.size() == 6);
    }
}

KV_CONFORMANCE("large values: 1 MiB, and over the backend's limit a clear error naming the key, nothing written") {
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

KV_CONFORMANCE("binary keys and values") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config(), TestType::plugin);
    std::string all_bytes;
    for (int c = 0; c < 256; ++c) all_bytes += static_cast<char>(c);
    REQUIRE(kv.put("bin/value", all_bytes).status == HERD_OK);
    CHECK(kv.get("bin/value")->first == all_bytes);
    const std::string key("bin/k\0\xff\n", 8);
    auto r = kv.put(key, "v");
    if constexpr (TestType::binary_keys) {
        REQUIRE(r.status == HERD_OK);
        CHECK(kv.get(key)->first == "v");
        CHECK(kv.list("bin/").size() == 2);
    } else {
        CHECK(r.status == HERD_ERR_INVALID_ARGUMENT);
        CHECK_THAT(r.message, Contains("bin/k\\x00\\xff\\x0a") && Contains("nothing was written"));
        CHECK(kv.list("bin/") == std::vector<std::string>{"bin/value"});
    }
}

KV_CONFORMANCE("listing 10 000 keys") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config(), TestType::plugin);
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = t; i < 10000; i += 8)
                if (kv.put("many/" + std::to_string(100000 + i), "v").status != HERD_OK) ++failed;
        });
    for (auto& t : threads) t.join();
    REQUIRE(failed == 0);
    auto keys = kv.list("many/");
    REQUIRE(keys.size() == 10000);
    CHECK(std::is_sorted(keys.begin(), keys.end()));
    CHECK(keys.front() == "many/100000");
    CHECK(keys.back() == "many/109999");
}

KV_CONFORMANCE("ephemeral keys go with their lease") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config(), TestType::plugin);
    plugins::ErrorCapture err;
    int64_t lease = 0;
    REQUIRE(kv.ops->lease_grant(kv.inst->handle(), 30000, &lease, err.get()) == HERD_OK);
    REQUIRE(kv.put("eph/a", "1", HERD_KV_EXPECT_ABSENT, lease).status == HERD_OK);
    CHECK(kv.put("eph/a", "2", HERD_KV_EXPECT_ABSENT, lease).status == HERD_ERR_CONFLICT);
    CHECK(kv.put("eph/plain", "1").status == HERD_OK);
    CHECK(kv.ops->lease_keepalive(kv.inst->handle(), lease, err.get()) == HERD_OK);
    REQUIRE(kv.ops->lease_revoke(kv.inst->handle(), lease, err.get()) == HERD_OK);
    CHECK_FALSE(kv.get("eph/a"));
    CHECK(kv.get("eph/plain"));
    CHECK(kv.ops->lease_keepalive(kv.inst->handle(), lease, err.get()) == HERD_ERR_NOT_FOUND);
    CHECK(kv.put("eph/b", "1", HERD_KV_EXPECT_ANY, lease).status == HERD_ERR_NOT_FOUND);
}

KV_CONFORMANCE("a server that is down or silent: a clear error within the timeout, never a hang") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config("1s"), TestType::plugin);
    REQUIRE(kv.put("k", "v").status == HERD_OK);
    auto timed = [&](auto&& op) {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = op();
        return std::make_pair(r, std::chrono::steady_clock::now() - t0);
    };
    if constexpr (std::is_same_v<TestType, Sqlite>) {
        // The file's analogue of a silent server: another process holds the write lock.
        sqlite3* other = nullptr;
        REQUIRE(sqlite3_open(b.path().c_str(), &other) == SQLITE_OK);
        REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
        auto [r, took] = timed([&] { return kv.put("k", "w"); });
        CHECK(r.status != HERD_OK);
        CHECK_THAT(r.message, Contains("locked") && Contains("\"k\""));
        CHECK(took < std::chrono::seconds(4));
        sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
        sqlite3_close(other);
        CHECK(kv.get("k")->first == "v");  // nothing partially written
    } else {
        if constexpr (std::is_same_v<TestType, Consul>) {  // accepts, never answers
            b.consul.server().stall(true);
            auto [r, took] = timed([&] { return kv.put("k", "w"); });
            b.consul.server().stall(false);
            CHECK(r.status == HERD_ERR_TIMEOUT);
            CHECK_THAT(r.message, Contains(b.consul.address()) && Contains("\"k\""));
            CHECK(took < std::chrono::seconds(4));
        }
        b.stop();
        auto [r, took] = timed([&] { return kv.put("k", "w"); });
        CHECK((r.status == HERD_ERR_UNAVAILABLE || r.status == HERD_ERR_TIMEOUT));
        CHECK_THAT(r.message, Contains("127.0.0.1") && Contains("\"k\""));
        CHECK(took < std::chrono::seconds(4));
        auto [g, took_get] = timed([&] { return kv.put("k2", "w"); });
        CHECK(g.status != HERD_OK);
        CHECK(took_get < std::chrono::seconds(4));
    }
}

KV_CONFORMANCE("CAS traffic across a server restart: no lost update, no hang, every failure a clear error") {
    TestType b;
    test::TempDir dir;
    Kv kv(dir.path(), b.config("2s"), TestType::plugin);
    REQUIRE(kv.put("counter", "0").status == HERD_OK);
    std::atomic<int> acknowledged{0}, unknown{0}, unclear{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            while (!stop) {
                auto cur = kv.get("counter");
                if (!cur) continue;  // the server is away
                auto r = kv.put("counter", std::to_string(std::stoi(cur->first) + 1), cur->second);
                if (r.status == HERD_OK) ++acknowledged;
                else if (r.status == HERD_ERR_UNAVAILABLE || r.status == HERD_ERR_TIMEOUT) ++unknown;  // may or may not have landed
                else if (r.status != HERD_ERR_CONFLICT) ++unclear;
            }
        });
    REQUIRE(test::eventually([&] { return acknowledged >= 20; }));
    b.restart();
    const int before = acknowledged;
    REQUIRE(test::eventually([&] { return acknowledged >= before + 20; }, std::chrono::seconds(30)));
    stop = true;
    for (auto& t : threads) t.join();
    const int final_count = std::stoi(kv.get("counter")->first);
    CHECK(unclear == 0);
    CHECK(final_count >= acknowledged);                 // nothing acknowledged was lost
    CHECK(final_count <= acknowledged + unknown);       // nothing was applied twice
}

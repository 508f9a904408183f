// What the conformance kit cannot do from outside (tests/conformance runs the kit's contract cases
// over every KV plugin): the server under a KV plugin restarting, stopping or going silent, for
// kv_sqlite (a file), kv_etcd (a real etcd from Debian) and kv_consul (the Consul double). Each
// failure must be a clear error within the timeout, and nothing acknowledged may be lost. Also
// each backend's documented size limit, which only this side knows.
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

#define KV_FAILURE(name) TEMPLATE_TEST_CASE("kv server failure: " name, "[kv][failure]", Sqlite, Etcd, Consul)

KV_FAILURE("a watch survives the server restarting: it resumes, or relists and says so") {
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


KV_FAILURE("a server that is down or silent: a clear error within the timeout, never a hang") {
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

KV_FAILURE("CAS traffic across a server restart: no lost update, no hang, every failure a clear error") {
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

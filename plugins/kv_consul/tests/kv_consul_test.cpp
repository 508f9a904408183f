// kv_consul against the Consul double: what the conformance suite does not cover — ACL tokens,
// datacenters, the index rules of blocking queries, the watch's rate limit, sessions, and
// configuration errors.
#include "consul_double.hpp"
#include "http_client.hpp"
#include "kv_fixture.hpp"
#include "support.hpp"
#include "tls.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace herd;
using Catch::Matchers::Contains;
using test::ConsulDouble;
using test::Kv;
using test::Watcher;

namespace {

std::string config(const ConsulDouble& c, const std::string& extra = "") {
    return R"({"address": ")" + c.address() + R"(", "prefix": "t/", "timeout": "2s", "watch_wait": "300ms", "watch_rate": 100)" + extra + "}";
}

}  // namespace

TEST_CASE("kv_consul: the ACL token is sent: a wrong or missing one is a permission error that writes nothing", "[kv][consul]") {
    ConsulDouble::Options o;
    o.token = "s3cret";
    ConsulDouble consul(o);
    test::TempDir dir;
    Kv kv(dir.path(), config(consul, R"(, "token": "s3cret")"), "kv_consul");
    REQUIRE(kv.put("k", "v").status == HERD_OK);

    Kv wrong(dir.path(), config(consul, R"(, "token": "nope")"), "kv_consul");
    auto r = wrong.put("k", "x");
    CHECK(r.status == HERD_ERR_PERMISSION);
    CHECK_THAT(r.message, Contains("ACL not found") && Contains("\"k\"") && Contains(consul.address()));
    Kv none(dir.path(), config(consul), "kv_consul");
    auto n = none.put("k", "x");
    CHECK(n.status == HERD_ERR_PERMISSION);
    CHECK_THAT(n.message, Contains("no token configured"));
    CHECK(kv.get("k")->first == "v");
}

TEST_CASE("kv_consul: the datacenter is sent: an unknown one is a clear error", "[kv][consul]") {
    ConsulDouble consul;
    test::TempDir dir;
    Kv dc1(dir.path(), config(consul, R"(, "datacenter": "dc1")"), "kv_consul");
    CHECK(dc1.put("k", "v").status == HERD_OK);
    Kv mars(dir.path(), config(consul, R"(, "datacenter": "mars")"), "kv_consul");
    auto r = mars.put("k", "x");
    CHECK(r.status == HERD_ERR_INVALID_ARGUMENT);
    CHECK_THAT(r.message, Contains("No path to datacenter") && Contains("mars"));
}

TEST_CASE("kv_consul: a watch resets when the index goes backwards, and keeps going", "[kv][consul]") {
    ConsulDouble consul;
    test::TempDir dir;
    Kv kv(dir.path(), config(consul), "kv_consul");
    kv.put("w/a", "1");
    kv.put("w/b", "1");
    int64_t from = 0;
    kv.list("w/", &from);
    Watcher w(kv, "w/", from);
    kv.del("w/b");  // the prefix's index is now its tombstone's
    REQUIRE(test::eventually([&] { return w.count() == 1; }));
    consul.reap_tombstones();  // ... which Consul's GC removes: the index goes backwards
    REQUIRE(test::eventually([&] {
        std::lock_guard lk(w.mu);
        return !w.resets.empty();
    }));
    const int64_t after = kv.put("w/c", "1").revision;
    REQUIRE(test::eventually([&] {
        std::lock_guard lk(w.mu);
        return !w.events.empty() && std::get<2>(w.events.back()) == after;
    }));
}

TEST_CASE("kv_consul: a watch from a revision it cannot reconstruct asks for a relist", "[kv][consul]") {
    ConsulDouble consul;
    test::TempDir dir;
    Kv kv(dir.path(), config(consul), "kv_consul");
    const int64_t early = kv.put("w/a", "1").revision;
    kv.put("w/b", "1");
    kv.del("w/a");
    // Nobody listed at `early` in this instance: deletes since then cannot be known.
    Watcher w(kv, "w/", early);
    REQUIRE(test::eventually([&] {
        std::lock_guard lk(w.mu);
        return !w.resets.empty();
    }));
    const int64_t next = kv.put("w/c", "1").revision;
    REQUIRE(test::eventually([&] { return w.count() == 1; }));
    std::lock_guard lk(w.mu);
    CHECK(std::get<2>(w.events.front()) == next);
}

TEST_CASE("kv_consul: blocking queries are rate-limited", "[kv][consul]") {
    ConsulDouble consul;
    test::TempDir dir;
    Kv kv(dir.path(), R"({"address": ")" + consul.address() + R"(", "watch_wait": "10s", "watch_rate": 2})", "kv_consul");
    int64_t from = 0;
    kv.list("", &from);
    Watcher w(kv, "", from);
    // A write per query would make a tight loop: the bucket allows 2 at once, then 2 per second.
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 40; ++i) {
        kv.put("k" + std::to_string(i), "v");
        std::this_thread::sleep_for(std::chrono::milliseconds(25));  // spreading writes over time is the test
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(consul.blocking_queries() <= static_cast<size_t>(2 + 2 * seconds + 1));
    REQUIRE(test::eventually([&] { return w.count() == 40; }));
}

TEST_CASE("kv_consul: leases are sessions: an unrenewed one ends and its keys go", "[kv][consul]") {
    ConsulDouble::Options o;
    o.ttl_multiplier = 1.0;
    ConsulDouble consul(o);
    test::TempDir dir;
    Kv kv(dir.path(), config(consul), "kv_consul");
    plugins::ErrorCapture err;
    int64_t lease = 0;
    REQUIRE(kv.ops->lease_grant(kv.inst->handle(), 1000, &lease, err.get()) == HERD_OK);  // Consul's minimum is 10 s
    REQUIRE(kv.put("eph", "1", HERD_KV_EXPECT_ANY, lease).status == HERD_OK);
    CHECK(consul.sessions() == 1);
    CHECK(kv.put("eph", "2", 5, lease).status == HERD_ERR_UNSUPPORTED);  // cas with a session: Consul cannot
    // A plain key is not taken over by an ephemeral create.
    kv.put("plain", "1");
    CHECK(kv.put("plain", "2", HERD_KV_EXPECT_ABSENT, lease).status == HERD_ERR_CONFLICT);
    REQUIRE(test::eventually([&] { return !kv.get("eph"); }, std::chrono::seconds(15)));
    CHECK(consul.sessions() == 0);
    CHECK(kv.ops->lease_keepalive(kv.inst->handle(), lease, err.get()) == HERD_ERR_NOT_FOUND);
}

TEST_CASE("kv_consul: configuration errors name the key", "[kv][consul]") {
    test::TempDir dir;
    metrics::Registry reg;
    plugins::PluginRegistry plugins(reg, false);
    auto r = plugins.load(test::plugin_dir() / "kv_consul.so");
    REQUIRE(r.plugin);
    auto create = [&](const std::string& cfg) {
        plugins::CreateError err;
        auto inst = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "kv", cfg, dir.path(), dir.path(), &err);
        CHECK_FALSE(inst);
        return err.key + ": " + err.message;
    };
    CHECK_THAT(create("{}"), Contains("address"));
    CHECK_THAT(create(R"({"address": "127.0.0.1:8500"})"), Contains("http://"));
    CHECK_THAT(create(R"({"address": "http://x", "prefix": "/abs"})"), Contains("prefix"));
    CHECK_THAT(create(R"({"address": "http://x", "watch_wait": "11m"})"), Contains("watch_wait"));
    CHECK_THAT(create(R"({"address": "http://x", "watch_rate": 0})"), Contains("watch_rate"));
    CHECK_THAT(create(R"({"address": "http://x", "cert_file": "c.pem"})"), Contains("key_file"));
    CHECK_THAT(create(R"({"address": "http://x", "adress": "typo"})"), Contains("adress"));
}

TEST_CASE("kv_consul: herd kv works against it end to end", "[kv][consul][kv-cli]") {
    ConsulDouble consul;
    test::TempDir dir;
    test::write_file(dir / "herd.toml", "[host]\ndata_dir = \"data\"\n[[kv]]\nname = \"consul\"\nplugin = \"kv_consul\"\naddress = \"" +
                                            consul.address() + "\"\nprefix = \"ops/\"\n");
    auto herd_kv = [&](std::vector<std::string> rest) {
        std::vector<std::string> a{test::herd_binary().string(), "kv", "-c", (dir / "herd.toml").string(), "--kv", "consul"};
        a.insert(a.end(), rest.begin(), rest.end());
        return test::run(a);
    };
    auto put = herd_kv({"put", "app/a", "hello"});
    REQUIRE(put.code == 0);
    CHECK(herd_kv({"get", "app/a"}).out == "hello\n");
    CHECK(herd_kv({"put", "app/a", "x", "--expect", "absent"}).code == 3);
    auto bad = herd_kv({"put", "bad key", "x"});
    CHECK(bad.code != 0);
    CHECK_THAT(bad.err, Contains("\"bad key\"") && Contains("nothing was written"));
    // What herd wrote is where Consul's own tools look: under the prefix.
    test::HttpConnection c(consul.port());
    CHECK(c.get("/v1/kv/ops/app/a?raw").body == "hello");
}

TEST_CASE("kv_consul over TLS with client certificates: a wrong CA or no certificate is a clear error", "[kv][consul][tls]") {
    ConsulDouble consul;
    test::TempDir pki;
    test::make_pki(pki.path());
    test::TlsTerminator tls(pki.path(), consul.port());  // Debian's nginx terminating TLS in front of the double
    test::TempDir dir;
    const std::string d = pki.path().string();
    auto cfg = [&](const std::string& ca, bool cert) {
        std::string c = R"({"address": ")" + tls.url() + R"(", "timeout": "3s", "ca_file": ")" + d + "/" + ca + "\"";
        if (cert) c += R"(, "cert_file": ")" + d + R"(/client.crt", "key_file": ")" + d + R"(/client.key")";
        return c + "}";
    };
    Kv good(dir.path(), cfg("ca.crt", true), "kv_consul");
    REQUIRE(good.put("tls/k", "v").status == HERD_OK);
    CHECK(good.get("tls/k")->first == "v");
    int64_t from = 0;
    good.list("tls/", &from);
    Watcher w(good, "tls/", from);  // blocking queries through TLS too
    good.put("tls/w", "1");
    REQUIRE(test::eventually([&] { return w.count() == 1; }));

    Kv wrong_ca(dir.path(), cfg("other.crt", true), "kv_consul");
    auto r = wrong_ca.put("tls/k", "x");
    CHECK(r.status == HERD_ERR_UNAVAILABLE);
    CHECK_THAT(r.message, Contains(tls.url()) && Contains("\"tls/k\"") && (Contains("certificate") || Contains("SSL")));
    Kv no_cert(dir.path(), cfg("ca.crt", false), "kv_consul");
    CHECK(no_cert.put("tls/k", "x").status != HERD_OK);  // nginx demands a client certificate (400)
    CHECK(good.get("tls/k")->first == "v");               // nothing written by the refused ones
}

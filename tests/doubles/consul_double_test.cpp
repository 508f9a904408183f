// The Consul double checked against the documented behaviour (../shared/reference/consul-kv-api.md)
// with a plain HTTP client: if the double drifts from Consul, kv_consul's tests prove nothing.
#include "consul_double.hpp"
#include "http_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <thread>

using namespace herd;
using nlohmann::json;
using test::ConsulDouble;
using test::HttpConnection;

namespace {

int64_t index_of(const test::HttpResponse& r) { return std::stoll(r.headers.at("x-consul-index")); }

}  // namespace

TEST_CASE("consul double: KV get, put, flags, recurse, keys and raw as Consul answers them", "[doubles][consul]") {
    ConsulDouble consul;
    HttpConnection c(consul.port());
    auto missing = c.get("/v1/kv/zip");
    CHECK(missing.status == 404);
    CHECK(missing.body.empty());
    CHECK(index_of(missing) >= 1);  // a 404 still carries the index

    auto put = c.request("PUT", "/v1/kv/zip?flags=42", "test");
    CHECK(put.status == 200);
    CHECK(put.body == "true");
    auto got = c.get("/v1/kv/zip");
    REQUIRE(got.status == 200);
    json e = json::parse(got.body).at(0);
    CHECK(e["Key"] == "zip");
    CHECK(e["Value"] == "dGVzdA==");
    CHECK(e["Flags"] == 42);
    CHECK(e["LockIndex"] == 0);
    CHECK(e["CreateIndex"] == e["ModifyIndex"]);
    CHECK_FALSE(e.contains("Session"));
    CHECK(index_of(got) == e["ModifyIndex"].get<int64_t>());
    // Field order as Consul's: CreateIndex, ModifyIndex, LockIndex, Key, Flags, Value.
    CHECK(got.body.find("\"CreateIndex\"") < got.body.find("\"Key\""));
    CHECK(got.body.find("\"Flags\"") < got.body.find("\"Value\""));

    c.request("PUT", "/v1/kv/empty", "");
    CHECK(json::parse(c.get("/v1/kv/empty").body).at(0)["Value"].is_null());  // an empty value is null
    CHECK(c.get("/v1/kv/zip?raw").body == "test");

    c.request("PUT", "/v1/kv/web/bar", "1");
    c.request("PUT", "/v1/kv/web/sub/a", "2");
    c.request("PUT", "/v1/kv/web/sub/b", "3");
    auto list = c.get("/v1/kv/web/?recurse");
    REQUIRE(list.status == 200);
    auto arr = json::parse(list.body);
    REQUIRE(arr.size() == 3);
    CHECK(arr[0]["Key"] == "web/bar");
    CHECK(index_of(list) == arr[2]["ModifyIndex"].get<int64_t>());  // the highest index under the prefix
    CHECK(json::parse(c.get("/v1/kv/web/?keys&separator=/").body) == json::array({"web/bar", "web/sub/"}));
    CHECK(c.get("/v1/kv/nothing/?keys").status == 404);  // an empty prefix is a 404 ...
    CHECK(c.get("/v1/kv/?keys").status == 200);           // ... the root is a list
    CHECK(c.get("/v1/kv/nothing/?recurse").status == 404);

    // Writing the same entry again is not a write: the index stays.
    const int64_t before = consul.index();
    c.request("PUT", "/v1/kv/web/bar", "1");
    CHECK(static_cast<int64_t>(consul.index()) == before);
}

TEST_CASE("consul double: cas=0 creates only, cas=N must match, delete cas never deletes on 0", "[doubles][consul]") {
    ConsulDouble consul;
    HttpConnection c(consul.port());
    CHECK(c.request("PUT", "/v1/kv/k?cas=0", "a").body == "true");
    CHECK(c.request("PUT", "/v1/kv/k?cas=0", "b").body == "false");
    const int64_t m = json::parse(c.get("/v1/kv/k").body).at(0)["ModifyIndex"];
    CHECK(c.request("PUT", "/v1/kv/k?cas=" + std::to_string(m + 1), "c").body == "false");
    CHECK(c.request("PUT", "/v1/kv/k?cas=" + std::to_string(m), "c").body == "true");
    CHECK(c.request("PUT", "/v1/kv/k?cas=" + std::to_string(m), "d").body == "false");
    CHECK(c.request("PUT", "/v1/kv/nope?cas=5", "x").body == "false");  // cas=N on a missing key
    CHECK(c.request("DELETE", "/v1/kv/k?cas=0").body == "false");
    CHECK(c.get("/v1/kv/k").status == 200);
    const int64_t m2 = json::parse(c.get("/v1/kv/k").body).at(0)["ModifyIndex"];
    CHECK(c.request("DELETE", "/v1/kv/k?cas=" + std::to_string(m2)).body == "true");
    CHECK(c.get("/v1/kv/k").status == 404);
    CHECK(c.request("PUT", "/v1/kv/k?cas=1&acquire=x", "v").status == 400);  // cas with acquire/release
}

TEST_CASE("consul double: blocking queries wait for a change or the wait, deletes leave tombstones", "[doubles][consul]") {
    ConsulDouble consul;
    HttpConnection c(consul.port());
    c.request("PUT", "/v1/kv/svc/a", "1");
    auto first = c.get("/v1/kv/svc/?recurse");
    const int64_t idx = index_of(first);

    // Nothing changes: the query returns after wait (plus at most wait/16), with the same index.
    const auto t0 = std::chrono::steady_clock::now();
    auto idle = c.get("/v1/kv/svc/?recurse&index=" + std::to_string(idx) + "&wait=300ms");
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(index_of(idle) == idx);
    CHECK(took >= std::chrono::milliseconds(300));

    // A write elsewhere wakes the query but does not move this prefix's index.
    std::thread writer([&] {
        HttpConnection w(consul.port());
        w.request("PUT", "/v1/kv/other", "x");
        w.request("PUT", "/v1/kv/svc/b", "2");
    });
    auto changed = c.get("/v1/kv/svc/?recurse&index=" + std::to_string(idx) + "&wait=20s");
    writer.join();
    CHECK(index_of(changed) > idx);
    CHECK(consul.blocking_queries() == 2);

    // A delete moves the prefix's index forward (its tombstone) ...
    const int64_t with_b = index_of(c.get("/v1/kv/svc/?recurse"));
    c.request("DELETE", "/v1/kv/svc/b");
    const int64_t after_delete = index_of(c.get("/v1/kv/svc/?recurse"));
    CHECK(after_delete > with_b);
    // ... until tombstones are reaped: then the index goes backwards (clients must reset).
    consul.reap_tombstones();
    CHECK(index_of(c.get("/v1/kv/svc/?recurse")) < after_delete);
}

TEST_CASE("consul double: sessions, acquire and release, TTL expiry with behavior delete", "[doubles][consul]") {
    ConsulDouble::Options o;
    o.min_ttl = std::chrono::milliseconds(100);  // a short TTL keeps the test short; the rule is the same
    o.ttl_multiplier = 1.0;
    ConsulDouble consul(o);
    HttpConnection c(consul.port());
    CHECK(c.request("PUT", "/v1/session/create", R"({"TTL":"50ms"})").status == 400);  // under the minimum
    auto created = c.request("PUT", "/v1/session/create", R"({"Name":"a","TTL":"1s","Behavior":"delete","LockDelay":"0s"})");
    REQUIRE(created.status == 200);
    const std::string a = json::parse(created.body)["ID"];
    const std::string b = json::parse(c.request("PUT", "/v1/session/create", R"({"Name":"b","TTL":"1s","LockDelay":"0s"})").body)["ID"];

    CHECK(c.request("PUT", "/v1/kv/lock?acquire=" + a, "a").body == "true");
    CHECK(c.request("PUT", "/v1/kv/lock?acquire=" + b, "b").body == "false");  // held by a
    auto held = json::parse(c.get("/v1/kv/lock").body).at(0);
    CHECK(held["Session"] == a);
    CHECK(held["LockIndex"] == 1);
    CHECK(c.request("PUT", "/v1/kv/lock?release=" + b, "b").body == "false");
    CHECK(c.request("PUT", "/v1/kv/lock?acquire=nope", "x").status == 500);  // unknown session

    auto renewed = c.request("PUT", "/v1/session/renew/" + a);
    CHECK(renewed.status == 200);
    CHECK(json::parse(renewed.body).at(0)["TTL"] == "1s");
    CHECK(c.request("PUT", "/v1/session/renew/00000000-0000-0000-0000-000000000000").status == 404);

    // No renewal: the session dies after its TTL and, with behavior delete, takes the key along.
    REQUIRE(test::eventually([&] { return c.get("/v1/kv/lock").status == 404; }, std::chrono::seconds(10)));
    CHECK(c.request("PUT", "/v1/session/renew/" + a).status == 404);
    CHECK(json::parse(c.get("/v1/session/info/" + a).body).empty());

    // Behavior release: destroying the session frees the lock, the key stays.
    const std::string s = json::parse(c.request("PUT", "/v1/session/create", R"({"TTL":"10s","LockDelay":"0s"})").body)["ID"];
    CHECK(c.request("PUT", "/v1/kv/lock2?acquire=" + s, "x").body == "true");
    CHECK(c.request("PUT", "/v1/session/destroy/" + s).body == "true");
    auto released = json::parse(c.get("/v1/kv/lock2").body).at(0);
    CHECK_FALSE(released.contains("Session"));
}

TEST_CASE("consul double: ACL tokens, datacenters, bad keys, oversized values, restarts", "[doubles][consul]") {
    ConsulDouble::Options o;
    o.token = "s3cret";
    ConsulDouble consul(o);
    HttpConnection c(consul.port());
    CHECK(c.get("/v1/kv/a").status == 403);
    CHECK(c.get("/v1/kv/a", {{"X-Consul-Token", "wrong"}}).body == "ACL not found");
    CHECK(c.get("/v1/kv/a", {{"X-Consul-Token", "s3cret"}}).status == 404);
    CHECK(c.get("/v1/kv/a", {{"Authorization", "Bearer s3cret"}}).status == 404);
    const std::map<std::string, std::string> tok{{"X-Consul-Token", "s3cret"}};
    CHECK(c.get("/v1/kv/a?dc=dc1", tok).status == 404);
    auto far = c.get("/v1/kv/a?dc=mars", tok);
    CHECK(far.status == 500);
    CHECK(far.body == "No path to datacenter");
    CHECK(c.request("PUT", "/v1/kv/bad%20key", "v", tok).status == 400);
    CHECK(c.request("PUT", "/v1/kv/%2Fleading", "v", tok).status == 400);
    CHECK(c.request("PUT", "/v1/kv/big", std::string(512 * 1024 + 1, 'x'), tok).status == 413);
    CHECK(c.request("PUT", "/v1/kv/fits", std::string(512 * 1024, 'x'), tok).body == "true");

    const int64_t idx = consul.index();
    consul.stop();
    CHECK(test::HttpConnection(consul.port(), std::chrono::seconds(2)).get("/v1/kv/fits", tok).status == 0);
    consul.start();
    HttpConnection again(consul.port());
    CHECK(again.get("/v1/kv/fits", tok).status == 200);  // the data survives a restart
    CHECK(static_cast<int64_t>(consul.index()) == idx);
}

// The dispatcher's decisions (placement, versions, expiry, rebalance, make-before-break) and the
// check formats (API bodies, Datadog's integration.Config, conf.d files, templates), without I/O.
#include "dispatch/check.hpp"
#include "dispatch/check_template.hpp"
#include "dispatch/dispatcher.hpp"

#include <catch2/catch.hpp>

using namespace herd::dispatch;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

Check check(const std::string& id, const std::string& host = "db") {
    std::string why;
    auto c = parse_check("check_name: postgres\ninstances:\n  - host: " + host + "\n    port: 5432\n", id, &why);
    REQUIRE(c);
    return *c;
}

std::map<std::string, Check> checks(int n) {
    std::map<std::string, Check> out;
    for (int i = 0; i < n; ++i) {
        auto c = check("c" + std::to_string(i), "db" + std::to_string(i));
        out[c.id] = c;
    }
    return out;
}

std::map<std::string, size_t> counts(const Dispatcher& d) {
    std::map<std::string, size_t> out;
    for (const auto& [name, n] : d.nodes()) out[name] = d.count_of(name);
    return out;
}

// Every node reports the version it was told: it runs what it was given.
void confirm_all(Dispatcher& d, Clock::time_point now) {
    std::vector<std::string> names;
    for (const auto& [name, n] : d.nodes()) names.push_back(name);
    for (const auto& n : names) d.status(n, d.version_of(n), nullptr, now);
}

}  // namespace

TEST_CASE("dispatch: 100 checks over 4 nodes are placed within one of each other", "[dispatch]") {
    Dispatcher d(30s);
    const auto now = Clock::now();
    for (auto n : {"n1", "n2", "n3", "n4"}) d.status(n, 0, nullptr, now);
    d.set_checks(checks(100));
    CHECK(d.dangling().size() == 100);
    d.tick(now);
    CHECK(d.dangling().empty());
    for (const auto& [n, c] : counts(d)) CHECK(c == 25);
    // Each check on exactly one node.
    size_t total = 0;
    for (const auto& [n, info] : d.nodes()) total += d.configs_of(n).size();
    CHECK(total == 100);
}

TEST_CASE("dispatch: placement by fresh weights never piles a batch on the node that looked idle", "[dispatch]") {
    Dispatcher d(30s);
    const auto now = Clock::now();
    d.status("busy", 0, nullptr, now);
    d.status("idle", 0, nullptr, now);
    d.set_checks(checks(10));
    d.tick(now);
    // "busy"'s checks turn out heavy, "idle"'s light: reported with the nodes' next status.
    std::map<std::string, double> heavy, light;
    for (const auto* c : d.configs_of("busy")) heavy[c->id] = 100;
    for (const auto* c : d.configs_of("idle")) light[c->id] = 1;
    d.status("busy", d.version_of("busy"), &heavy, now);
    d.status("idle", d.version_of("idle"), &light, now);
    CHECK(d.load_of("busy") == 500);
    CHECK(d.load_of("idle") == 5);
    // 20 new checks: each weighs the mean of the reported ones (50.5) as it is placed, so they
    // spread instead of all landing on "idle" (Datadog's least-busy on stale stats).
    auto more = checks(30);
    d.set_checks(more);
    d.tick(now);
    const size_t on_idle = d.count_of("idle") - 5, on_busy = d.count_of("busy") - 5;
    CHECK(on_idle + on_busy == 20);
    CHECK(on_busy >= 5);   // the heavy node takes some once idle has caught up
    CHECK(on_idle > on_busy);
}

TEST_CASE("dispatch: versions are the same for any leader, so a takeover moves nothing", "[dispatch]") {
    Dispatcher old_leader(30s);
    const auto now = Clock::now();
    for (auto n : {"n1", "n2", "n3"}) old_leader.status(n, 0, nullptr, now);
    old_leader.set_checks(checks(30));
    old_leader.tick(now);
    confirm_all(old_leader, now);
    old_leader.take_dirty();

    Dispatcher next(30s);
    next.set_checks(checks(30));
    next.load_assignments(old_leader.assignments(), now);
    next.tick(now);  // nothing dangling, nobody expired
    CHECK(next.take_dirty().empty());
    for (auto n : {"n1", "n2", "n3"}) {
        CHECK(next.version_of(n) == old_leader.version_of(n));
        CHECK(next.status(n, old_leader.version_of(n), nullptr, now));  // up to date: no fetch
    }
    CHECK(next.version_of("n1") != 0);
    CHECK(next.version_of("n1") != -1);
}

TEST_CASE("dispatch: a silent node's checks are placed again on the same tick", "[dispatch]") {
    Dispatcher d(1000ms);
    auto now = Clock::now();
    for (auto n : {"n1", "n2", "n3"}) d.status(n, 0, nullptr, now);
    d.set_checks(checks(30));
    d.tick(now);
    confirm_all(d, now);
    now += 800ms;
    d.status("n1", d.version_of("n1"), nullptr, now);
    d.status("n2", d.version_of("n2"), nullptr, now);
    CHECK(d.tick(now).empty());
    now += 400ms;  // n3 silent for 1.2 s
    auto expired = d.tick(now);
    REQUIRE(expired == std::vector<std::string>{"n3"});
    CHECK(d.dangling().empty());
    CHECK(d.count_of("n1") == 15);
    CHECK(d.count_of("n2") == 15);
    CHECK_FALSE(d.known("n3"));
}

TEST_CASE("dispatch: rebalance moves the fewest checks, only when it helps enough, make-before-break", "[dispatch]") {
    Dispatcher d(30s);
    const auto now = Clock::now();
    d.status("n1", 0, nullptr, now);
    d.set_checks(checks(30));
    d.tick(now);
    confirm_all(d, now);
    REQUIRE(d.count_of("n1") == 30);
    d.status("n2", 0, nullptr, now);
    d.status("n3", 0, nullptr, now);
    CHECK(d.take_joined());

    auto plan = d.rebalance(0.10, false);
    CHECK_FALSE(plan.applied);
    CHECK(plan.moves.size() == 20);  // the minimum: 10 to each newcomer
    auto r = d.rebalance(0.10);
    REQUIRE(r.applied);
    CHECK(r.spread_after < r.spread_before);
    // Before the new nodes confirm, n1 still runs everything.
    CHECK(d.configs_of("n1").size() == 30);
    CHECK(d.configs_of("n2").size() == 10);
    const auto n1_before = d.version_of("n1");
    // n2 confirms (its status carries the version that includes the moved checks): they leave n1.
    CHECK(d.status("n2", d.version_of("n2"), nullptr, now));
    CHECK(d.configs_of("n1").size() == 20);
    CHECK(d.version_of("n1") != n1_before);
    // n3 reports an older version: not confirmed yet, n1 keeps its checks.
    CHECK_FALSE(d.status("n3", 0, nullptr, now));
    CHECK(d.configs_of("n1").size() == 20);
    d.status("n3", d.version_of("n3"), nullptr, now);
    CHECK(d.configs_of("n1").size() == 10);

    // Balanced now: a further rebalance plans nothing; a small imbalance is under the threshold.
    CHECK(d.rebalance(0.10).moves.empty());
    d.set_checks(checks(31));
    d.tick(now);
    auto small = d.rebalance(0.10);
    CHECK(small.moves.empty());
}

TEST_CASE("dispatch: a check moving to a node that dies stays where it runs", "[dispatch]") {
    Dispatcher d(1000ms);
    auto now = Clock::now();
    d.status("n1", 0, nullptr, now);
    d.set_checks(checks(4));
    d.tick(now);
    confirm_all(d, now);
    d.status("n2", 0, nullptr, now);
    REQUIRE(d.rebalance(0.1).applied);
    CHECK(d.configs_of("n1").size() == 4);
    now += 1500ms;
    d.status("n1", d.version_of("n1"), nullptr, now);
    d.tick(now);  // n2 expired before confirming
    CHECK(d.count_of("n1") == 4);
    for (const auto& [id, a] : d.assignments()) CHECK(a.from.empty());
}

TEST_CASE("dispatch: API bodies in YAML and JSON are the same check, and errors name the field", "[dispatch]") {
    std::string why;
    auto y = parse_check("check_name: http_check\ninit_config:\ninstances:\n  - url: http://a/\n    timeout: 3\n", "web", &why);
    auto j = parse_check(R"({"check_name":"http_check","init_config":null,"instances":[{"timeout":3,"url":"http://a/"}]})", "web", &why);
    REQUIRE(y);
    REQUIRE(j);
    CHECK(y->digest() == j->digest());
    CHECK(conf_d_yaml(*y) == "# written by herd (dispatch): check web\ninit_config: {}\ninstances:\n  - timeout: 3\n    url: \"http://a/\"\n");

    CHECK_FALSE(parse_check("check_name: x\ninstances: []\n", "a", &why));
    CHECK_THAT(why, Contains("\"instances\" must be a list of at least one mapping"));
    CHECK_FALSE(parse_check("check_name: x\ninstances: [{}]\nintances: 1\n", "a", &why));
    CHECK_THAT(why, Contains("unknown field \"intances\""));
    CHECK_FALSE(parse_check("instances: [{}]\n", "a", &why));
    CHECK_THAT(why, Contains("\"check_name\" is missing"));
    CHECK_FALSE(parse_check("check_name: [x\n", "a", &why));
    CHECK_THAT(why, Contains("neither YAML nor JSON: line 2, column 1"));
    CHECK_FALSE(parse_check("check_name: x\ninstances: [{a: 1, a: 2}]\n", "a", &why));
    CHECK_THAT(why, Contains("duplicate key \"a\""));
    CHECK_FALSE(parse_check("check_name: x\ninstances: [{}]\n", "etc/passwd", &why));
    CHECK_THAT(why, Contains("a check id has letters, digits"));
    CHECK_FALSE(parse_check("check_name: ../x\ninstances: [{}]\n", "a", &why));
    CHECK_THAT(why, Contains("cannot name a conf.d directory"));
}

TEST_CASE("dispatch: the integration.Config JSON is what a Datadog cluster agent writes", "[dispatch]") {
    auto c = check("db1", "db1");
    CHECK(go_json(datadog_config(c, "")) ==
          R"({"check_name":"postgres","instances":["aG9zdDogImRiMSIKcG9ydDogNTQzMgo="],"init_config":"e30K","metric_config":null,)"
          R"("logs":null,"ad_identifiers":null,"advanced_ad_identifiers":null,"provider":"herd","service_id":"","cluster_check":true,)"
          R"("node_name":"","source":"herd:db1","ignore_autodiscovery_tags":false,"check_tag_cardinality":"","metrics_excluded":false,)"
          R"("logs_excluded":false})");
    CHECK(*base64_decode("aG9zdDogImRiMSIKcG9ydDogNTQzMgo=") == "host: \"db1\"\nport: 5432\n");
    CHECK(go_json(nlohmann::ordered_json{{"a", "<b>&"}}) == R"({"a":"\u003cb\u003e\u0026"})");
    // And back, as a herd node reads it.
    std::string why;
    auto back = from_datadog_config(nlohmann::json::parse(go_json(datadog_config(c, ""))), &why);
    REQUIRE(back);
    CHECK(back->id == "db1");
    CHECK(back->digest() == c.digest());
    for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) CHECK(*base64_decode(base64_encode(s)) == s);
    CHECK_FALSE(base64_decode("abc"));
}

TEST_CASE("dispatch: templates make one check per target, annotations as Datadog reads them", "[dispatch]") {
    using herd::discovery::TargetGroup;
    CheckTemplate t{"web", false, "http_check", nlohmann::json::object(),
                    nlohmann::json::parse(R"([{"url": "http://%%host%%:%%port%%/health", "name": "%%host%%"}])")};
    CHECK(unknown_variable(t.instances, "checks[0].instances").empty());
    CHECK_THAT(unknown_variable(nlohmann::json::parse(R"([{"u": "%%env_X%%"}])"), "checks[0].instances"),
               Contains("checks[0].instances: unknown template variable %%env_X%%"));
    std::map<std::string, std::vector<TargetGroup>> groups{
        {"web", {TargetGroup{"s", {{{"__address__", "10.0.0.1:8080"}}, {{"__address__", "[::1]:9090"}}}, {}}}}};
    auto e = expand({t}, groups);
    REQUIRE(e.checks.size() == 2);
    std::set<std::string> urls;
    for (const auto& [id, c] : e.checks) {
        urls.insert(yaml_text_to_json(c.instances[0])["url"].get<std::string>());
        CHECK(c.source == "discovery:web");
    }
    CHECK(urls == std::set<std::string>{"http://10.0.0.1:8080/health", "http://::1:9090/health"});
    // The same targets give the same ids (any leader computes the same).
    CHECK(expand({t}, groups).checks.begin()->first == e.checks.begin()->first);

    const std::string a = "__meta_kubernetes_service_annotation_ad_datadoghq_com_service_";
    herd::discovery::LabelSet svc{{"__address__", "redis.prod.svc:6379"},
                                  {"__meta_kubernetes_namespace", "prod"},
                                  {"__meta_kubernetes_service_name", "redis"},
                                  {a + "check_names", R"(["redisdb"])"},
                                  {a + "init_configs", R"([{}])"},
                                  {a + "instances", R"([{"host": "%%host%%", "port": "%%port%%"}])"}};
    auto second_port = svc;
    second_port["__address__"] = "redis.prod.svc:16379";
    herd::discovery::LabelSet plain{{"__address__", "x:1"}};
    herd::discovery::LabelSet broken = svc;
    broken["__meta_kubernetes_service_name"] = "broken";
    broken[a + "instances"] = "[{]";
    CheckTemplate ann{"k8s", true, "", {}, {}};
    auto k = expand({ann}, {{"k8s", {TargetGroup{"s", {svc, second_port, plain, broken}, {}}}}});
    REQUIRE(k.checks.size() == 1);  // one per Service, not per port; the plain target has no annotations
    const auto& c = k.checks.begin()->second;
    CHECK(c.check_name == "redisdb");
    CHECK(yaml_text_to_json(c.instances[0]) == nlohmann::json::parse(R"({"host": "redis.prod.svc", "port": "6379"})"));
    REQUIRE(k.errors.size() == 1);
    CHECK_THAT(k.errors[0], Contains("ad.datadoghq.com/service.instances is not a JSON list"));
}

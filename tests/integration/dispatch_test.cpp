// The dispatch pipeline end to end: three leader candidates and four node herds (each with its
// own conf.d directory behind sink_files), on one kv_sqlite file and on a real etcd; and the
// Datadog node API as a datadog-agent speaks it.
#include "consul_double.hpp"
#include "etcd_server.hpp"
#include "herd_fixture.hpp"
#include "http_client.hpp"
#include "prometheus.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <set>
#include <thread>

using namespace herd;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const std::string kToken = "s3cret-token";
const std::map<std::string, std::string> kAuth{{"Authorization", "Bearer " + kToken}};

struct Member {
    std::string id;
    fs::path confd;
    std::unique_ptr<test::HerdRun> herd;
};

// The checks a node's conf.d holds: <check_name>.d/<id>.yaml → id.
std::multiset<std::string> checks_in(const fs::path& confd) {
    std::multiset<std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(confd, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->path().extension() == ".yaml") out.insert(it->path().stem().string());
    return out;
}

struct Cluster {
    test::TempDir shared;
    std::string kv;  // the [[kv]] plugin keys; default: one kv_sqlite file
    std::vector<std::unique_ptr<Member>> leaders, nodes;
    std::string timing = "lease = \"1s\"\nnode_expiration = \"1500ms\"\npoll_interval = \"250ms\"\nrebalance_period = \"1h\"\n";

    std::string kv_table() const {
        return "[[kv]]\nname = \"shared\"\n" +
               (kv.empty() ? "plugin = \"kv_sqlite\"\npath = \"" + (shared / "dispatch.sqlite").string() + "\"\n" : kv);
    }
    Member& add_leader(const std::string& id, const std::string& extra = "") {
        auto m = std::make_unique<Member>();
        m->id = id;
        m->herd = std::make_unique<test::HerdRun>(kv_table() + "\n[[dispatch]]\nname = \"checks\"\nrole = \"leader\"\nnode_id = \"" + id +
                                                  "\"\ntoken = \"" + kToken + "\"\n" + timing + extra);
        leaders.push_back(std::move(m));
        return *leaders.back();
    }
    Member& add_node(const std::string& id) {
        auto m = std::make_unique<Member>();
        m->id = id;
        m->confd = shared / ("confd-" + id);
        fs::create_directories(m->confd);
        // Each node starts its rounds at another server: followers forward for some of them.
        std::string servers;
        for (size_t i = 0; i < leaders.size(); ++i)
            servers += (i ? ", " : "") + std::string("\"127.0.0.1:") +
                       std::to_string(leaders[(i + nodes.size()) % leaders.size()]->herd->port()) + "\"";
        m->herd = std::make_unique<test::HerdRun>("[[sink]]\nname = \"confd\"\nplugin = \"sink_files\"\ndir = \"" + m->confd.string() +
                                                  "\"\n\n[[dispatch]]\nname = \"checks\"\nrole = \"node\"\nnode_id = \"" + id +
                                                  "\"\ntoken = \"" + kToken + "\"\nservers = [" + servers + "]\nsink = \"confd\"\n" + timing);
        nodes.push_back(std::move(m));
        return *nodes.back();
    }
    // The candidate that leads now (by its own metric), or null.
    Member* leader() {
        for (auto& l : leaders)
            if (l->herd->process().running() && l->herd->metric("herd_dispatch_leader{pipeline=\"checks\"}") == 1.0) return l.get();
        return nullptr;
    }
    Member* wait_leader(const Member* not_this = nullptr) {
        Member* found = nullptr;
        test::eventually([&] {
            found = leader();
            return found && found != not_this;
        });
        return found != not_this ? found : nullptr;
    }
    nlohmann::json state(Member& via) {
        auto r = test::HttpConnection(via.herd->port()).get("/api/v1/dispatch/checks/state", kAuth);
        if (r.status != 200) return nullptr;
        return nlohmann::json::parse(r.body, nullptr, false);
    }
    // Every check on exactly one live node, the counts within one of each other.
    bool balanced(size_t checks) {
        std::multiset<std::string> all;
        size_t lo = SIZE_MAX, hi = 0;
        for (auto& n : nodes) {
            if (!n->herd->process().running()) continue;
            auto mine = checks_in(n->confd);
            lo = std::min(lo, mine.size());
            hi = std::max(hi, mine.size());
            all.insert(mine.begin(), mine.end());
        }
        return all.size() == checks && std::set<std::string>(all.begin(), all.end()).size() == checks && hi - lo <= 1;
    }
};

std::string check_body(int i) {
    return "check_name: postgres\ninit_config: {}\ninstances:\n  - host: db" + std::to_string(i) + ".internal\n    port: 5432\n";
}

// The whole story on one store: placement, a leader killed, a node killed, a leader paused.
void scenario(Cluster& c) {
    for (auto id : {"L1", "L2", "L3"}) c.add_leader(id);
    for (auto& l : c.leaders) REQUIRE(l->herd->wait_ready());
    Member* leader = c.wait_leader();
    REQUIRE(leader);
    for (auto id : {"N1", "N2", "N3", "N4"}) c.add_node(id);
    REQUIRE(test::eventually([&] {
        auto s = c.state(*c.leaders[0]);  // through a follower, most likely
        return s.is_object() && s["nodes"].size() == 4;
    }));

    // 100 checks through the API of every candidate in turn.
    for (int i = 0; i < 100; ++i) {
        auto& via = *c.leaders[static_cast<size_t>(i) % 3];
        auto r = test::HttpConnection(via.herd->port())
                     .request("PUT", "/api/v1/dispatch/checks/checks/db-" + std::to_string(i), check_body(i), kAuth);
        INFO(r.body);
        REQUIRE(r.status == 201);
    }
    const bool placed = test::eventually([&] { return c.balanced(100); }, std::chrono::seconds(30));
    INFO(c.state(*leader).dump());
    INFO(leader->herd->process().err());
    REQUIRE(placed);
    for (auto& n : c.nodes) CHECK(checks_in(n->confd).size() == 25);

    // SIGKILL the leader: another takes over within the election bound, moves nothing, and no
    // node's conf.d loses a file meanwhile.
    auto before = c.state(*leader)["assignments"];
    REQUIRE(before.size() == 100);
    std::map<std::string, size_t> low;
    for (auto& n : c.nodes) low[n->id] = checks_in(n->confd).size();
    std::atomic<bool> watching{true};
    std::thread sampler([&] {
        while (watching)
            for (auto& n : c.nodes) low[n->id] = std::min(low[n->id], checks_in(n->confd).size());
    });
    const auto killed_at = std::chrono::steady_clock::now();
    ::kill(leader->herd->process().pid(), SIGKILL);
    Member* next = c.wait_leader(leader);
    const auto took_over = std::chrono::steady_clock::now() - killed_at;
    REQUIRE(next);
    // Let every node poll the new leader a few times.
    REQUIRE(test::eventually([&] {
        auto s = c.state(*next);
        if (!s.is_object() || s["nodes"].size() != 4) return false;
        for (const auto& n : s["nodes"])
            if (!n["reported"].get<bool>() || !n["up_to_date"].get<bool>()) return false;
        return true;
    }));
    watching = false;
    sampler.join();
    auto after = c.state(*next);
    CHECK(after["assignments"] == before);  // zero checks moved by the takeover
    for (auto& n : c.nodes) {
        INFO(n->id);
        CHECK(low[n->id] == 25);  // never emptied, never fewer
    }
    CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(took_over).count() < 1000 + 250 + 5000);  // lease + look + slack
    CHECK(next->herd->metric("herd_dispatch_moves_total{pipeline=\"checks\"}").value_or(0) == 0);

    // SIGKILL a node: its checks run elsewhere within node_expiration + one tick (+ a poll).
    auto& victim = *c.nodes[3];
    std::set<std::string> orphans;
    for (const auto& id : checks_in(victim.confd)) orphans.insert(id);
    const auto node_killed_at = std::chrono::steady_clock::now();
    ::kill(victim.herd->process().pid(), SIGKILL);
    victim.herd->process().wait(std::chrono::seconds(5));
    REQUIRE(test::eventually([&] { return c.balanced(100); }, std::chrono::seconds(30)));
    const auto redispatched = std::chrono::steady_clock::now() - node_killed_at;
    CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(redispatched).count() < 1500 + 375 + 2 * 250 + 5000);
    for (auto& n : c.nodes)
        if (n.get() != &victim) CHECK(checks_in(n->confd).size() >= 33);

    // SIGSTOP the leader past its lease, then SIGCONT: it steps down and writes nothing.
    Member* paused = c.wait_leader();
    REQUIRE(paused);
    ::kill(paused->herd->process().pid(), SIGSTOP);
    Member* successor = c.wait_leader(paused);
    REQUIRE(successor);
    REQUIRE(successor != paused);
    auto kv_list = [&] {
        return test::run({test::herd_binary().string(), "kv", "-c", (successor->herd->dir() / "herd.toml").string(), "list",
                          "herd/dispatch/checks/assign/"})
            .out;
    };
    REQUIRE(test::eventually([&] {
        auto s = c.state(*successor);
        return s.is_object() && s["nodes"].size() == 3 && s["dangling"].empty();
    }));
    const auto store_before = kv_list();
    REQUIRE_FALSE(store_before.empty());
    ::kill(paused->herd->process().pid(), SIGCONT);
    CHECK(test::eventually([&] { return paused->herd->metric("herd_dispatch_leader{pipeline=\"checks\"}") == 0.0; }));
    // Its status answers are forwarded to the successor now; a few ticks later the store is as it was.
    CHECK(test::eventually([&] {
        auto s = c.state(*paused);
        return s.is_object() && s["leader"] == successor->id;
    }));
    const auto store_after = kv_list();
    if (store_after != store_before) {
        for (auto& l : c.leaders) UNSCOPED_INFO(l->id << ":\n" << l->herd->process().err());
        UNSCOPED_INFO("before:\n" << store_before << "\nafter:\n" << store_after);
    }
    CHECK(store_after == store_before);
    CHECK(c.balanced(100));
}

}  // namespace

TEST_CASE("dispatch on kv_sqlite: 3 candidates and 4 nodes, a leader killed, a node killed, a leader paused",
          "[dispatch][multiprocess]") {
    Cluster c;
    scenario(c);
}

TEST_CASE("dispatch on a real etcd: 3 candidates and 4 nodes, a leader killed, a node killed, a leader paused",
          "[dispatch][multiprocess][etcd]") {
    test::EtcdServer etcd;
    etcd.start();
    Cluster c;
    c.kv = "plugin = \"kv_etcd\"\nendpoints = [\"" + etcd.url() + "\"]\ntimeout = \"1s\"\n";
    scenario(c);
}

TEST_CASE("dispatch: a datadog-agent's calls get a cluster agent's answers, byte for byte", "[dispatch]") {
    Cluster c;
    auto& l = c.add_leader("L1");
    REQUIRE(l.herd->wait_ready());
    REQUIRE(c.wait_leader());
    test::HttpConnection dd(l.herd->port());
    const std::map<std::string, std::string> agent{{"Authorization", "Bearer " + kToken}, {"X-Real-Ip", "10.1.2.3"},
                                                   {"Content-Type", "application/json"}};

    // Unknown before its first status: Datadog's 500.
    auto unknown = dd.request("GET", "/api/v1/clusterchecks/configs/dd-node", "", agent);
    CHECK(unknown.status == 500);
    CHECK(unknown.body == "node dd-node is unknown\n");
    // Tokens.
    auto none = dd.request("POST", "/api/v1/clusterchecks/status/dd-node", R"({"last_change":0})", {});
    CHECK(none.status == 401);
    auto wrong = dd.request("POST", "/api/v1/clusterchecks/status/dd-node", R"({"last_change":0})",
                            {{"Authorization", "Bearer nope"}});
    CHECK(wrong.status == 401);
    CHECK(dd.request("GET", "/api/v1/dispatch/checks/checks", "", {}).status == 401);
    // Malformed status: 500 as Datadog answers, and the node stays unknown.
    CHECK(dd.request("POST", "/api/v1/clusterchecks/status/dd-node", R"({"last_change": "x")", agent).status == 500);
    CHECK(dd.request("GET", "/api/v1/clusterchecks/configs/dd-node", "", agent).status == 500);

    // A check, then the node's first status.
    auto put = dd.request("PUT", "/api/v1/dispatch/checks/checks/db1",
                          R"({"check_name":"postgres","init_config":{},"instances":[{"host":"db1","port":5432}]})", agent);
    REQUIRE(put.status == 201);
    auto st = dd.request("POST", "/api/v1/clusterchecks/status/dd-node", R"({"last_change":0,"node_type":2})", agent);
    CHECK(st.status == 200);
    CHECK(st.headers["content-type"] == "application/json");
    const std::string config =
        R"({"check_name":"postgres","instances":["aG9zdDogImRiMSIKcG9ydDogNTQzMgo="],"init_config":"e30K","metric_config":null,)"
        R"("logs":null,"ad_identifiers":null,"advanced_ad_identifiers":null,"provider":"herd","service_id":"","cluster_check":true,)"
        R"("node_name":"","source":"herd:db1","ignore_autodiscovery_tags":false,"check_tag_cardinality":"","metrics_excluded":false,)"
        R"("logs_excluded":false})";
    int64_t version = 0;
    REQUIRE(test::eventually([&] {
        auto r = dd.request("GET", "/api/v1/clusterchecks/configs/dd-node", "", agent);
        if (r.status != 200) return false;
        auto j = nlohmann::json::parse(r.body);
        if (j["configs"].size() != 1) {
            dd.request("POST", "/api/v1/clusterchecks/status/dd-node", R"({"last_change":-1})", agent);  // heartbeat
            return false;
        }
        version = j["last_change"].get<int64_t>();
        CHECK(r.body == "{\"last_change\":" + std::to_string(version) + ",\"configs\":[" + config + "]}");
        return true;
    }));
    auto up = dd.request("POST", "/api/v1/clusterchecks/status/dd-node", "{\"last_change\":" + std::to_string(version) + "}", agent);
    CHECK(up.body == R"({"isuptodate":true})");
    auto stale = dd.request("POST", "/api/v1/clusterchecks/status/dd-node", R"({"last_change":12})", agent);
    CHECK(stale.body == R"({"isuptodate":false})");
    auto all = dd.request("GET", "/api/v1/clusterchecks", "", agent);
    CHECK(all.body == R"({"not_running":"","warmup":false,"nodes":[{"name":"dd-node","configs":[)" + config + R"(]}],"dangling":[]})");
    auto rb = dd.request("POST", "/api/v1/clusterchecks/rebalance", "", agent);
    CHECK(rb.status == 200);
    CHECK(rb.body == "null");  // one node: nothing to move

    // Bad input on the checks API: clear errors in the API's envelope, nothing stored.
    auto bad = dd.request("PUT", "/api/v1/dispatch/checks/checks/db2", "check_name: [x\n", agent);
    CHECK(bad.status == 400);
    CHECK_THAT(bad.body, Contains(R"("status":"error")") && Contains("neither YAML nor JSON"));
    auto big = dd.request("PUT", "/api/v1/dispatch/checks/checks/db2", "check_name: x\ninstances: [{}]\n#" + std::string(300 << 10, 'x'), agent);
    CHECK(big.status == 413);
    auto huge = dd.request("POST", "/api/v1/clusterchecks/status/dd-node", std::string(2 << 20, ' '), agent);
    CHECK(huge.status == 413);
    CHECK(dd.request("GET", "/api/v1/dispatch/checks/checks/db2", "", agent).status == 404);
    CHECK(dd.request("DELETE", "/api/v1/dispatch/checks/checks/db2", "", agent).status == 404);
    auto list = nlohmann::json::parse(dd.request("GET", "/api/v1/dispatch/checks/checks", "", agent).body);
    REQUIRE(list.size() == 1);
    CHECK(list[0]["id"] == "db1");
    CHECK(list[0]["instances"][0]["port"] == 5432);
    // The leader's /status: who leads, the nodes and their load as a picture.
    auto page = l.herd->get("/status");
    CHECK_THAT(page.body, Contains("dispatch <b>checks</b>") && Contains("leader since") && Contains("dd-node") &&
                              Contains("<svg role=\"img\" aria-label=\"load per node\""));
    // The CLI sees the same store.
    auto cli = test::run({test::herd_binary().string(), "dispatch", "-c", (l.herd->dir() / "herd.toml").string(), "checks"});
    CHECK(cli.code == 0);
    CHECK(cli.out == "db1  postgres\n");
}

TEST_CASE("dispatch: followers forward once, 508 on a forwarded call, 503 without a reachable leader", "[dispatch]") {
    Cluster c;
    c.add_leader("L1");
    c.add_leader("L2");
    for (auto& l : c.leaders) REQUIRE(l->herd->wait_ready());
    Member* leader = c.wait_leader();
    REQUIRE(leader);
    Member& follower = *c.leaders[leader == c.leaders[0].get() ? 1 : 0];
    test::HttpConnection f(follower.herd->port());
    auto fwd = f.request("POST", "/api/v1/clusterchecks/status/n1", R"({"last_change":0})", kAuth);
    CHECK(fwd.status == 200);
    CHECK(fwd.headers["x-dca-forwarded"] == "true");
    CHECK(fwd.body == R"({"isuptodate":true})");
    auto loop = f.request("POST", "/api/v1/clusterchecks/status/n1", R"({"last_change":0})",
                          {{"Authorization", "Bearer " + kToken}, {"X-DCA-Follower-Forwarded", "true"}});
    CHECK(loop.status == 508);
    CHECK_THAT(loop.body, Contains("loop detected"));
    // The leader answers a marked call itself (it is the end of the one hop).
    auto direct = test::HttpConnection(leader->herd->port())
                      .request("POST", "/api/v1/clusterchecks/status/n1", R"({"last_change":0})",
                               {{"Authorization", "Bearer " + kToken}, {"X-DCA-Follower-Forwarded", "true"}});
    CHECK(direct.status == 200);
    CHECK(follower.herd->metric("herd_dispatch_forwarded_total{pipeline=\"checks\",result=\"loop\"}") == 1.0);

    // A leader that cannot be reached: 503 naming it; no leader at all: 503 saying so.
    Cluster lone;
    auto& solo = lone.add_leader("S1", "prefix = \"ghosted/\"\n");
    REQUIRE(solo.herd->wait_ready());
    const auto file = (solo.herd->dir() / "herd.toml").string();
    REQUIRE(test::run({test::herd_binary().string(), "kv", "-c", file, "put", "ghosted/leader", R"({"id":"ghost","advertise":"127.0.0.1:1"})"}).code == 0);
    test::HttpConnection s(solo.herd->port());
    CHECK(test::eventually([&] {
        auto r = s.request("GET", "/api/v1/clusterchecks", "", kAuth);
        return r.status == 503 && r.body.find("the leader ghost (127.0.0.1:1) did not answer") != std::string::npos;
    }));
    REQUIRE(test::run({test::herd_binary().string(), "kv", "-c", file, "put", "ghosted/leader", "not a herd"}).code == 0);
    CHECK(test::eventually([&] {
        auto r = s.request("GET", "/api/v1/clusterchecks", "", kAuth);
        return r.status == 503 && r.body.find("no leader") != std::string::npos;
    }));
}

TEST_CASE("dispatch on Consul (the protocol double): sessions as leases, a killed leader replaced, nothing moved",
          "[dispatch][multiprocess][consul]") {
    test::ConsulDouble consul;  // Consul's rules: session TTL at least 10 s, ended 2 x TTL after the last renewal
    Cluster c;
    c.kv = "plugin = \"kv_consul\"\naddress = \"" + consul.address() + "\"\n";
    c.timing = "lease = \"10s\"\nnode_expiration = \"3s\"\npoll_interval = \"250ms\"\nrebalance_period = \"1h\"\n";
    c.add_leader("C1");
    c.add_leader("C2");
    for (auto& l : c.leaders) REQUIRE(l->herd->wait_ready());
    Member* leader = c.wait_leader();
    REQUIRE(leader);
    c.add_node("N1");
    c.add_node("N2");
    REQUIRE(test::eventually([&] {
        auto s = c.state(*leader);
        return s.is_object() && s["nodes"].size() == 2;
    }));
    for (int i = 0; i < 10; ++i)
        REQUIRE(test::HttpConnection(leader->herd->port())
                    .request("PUT", "/api/v1/dispatch/checks/checks/db-" + std::to_string(i), check_body(i), kAuth)
                    .status == 201);
    REQUIRE(test::eventually([&] { return c.balanced(10); }));
    auto before = c.state(*leader)["assignments"];
    ::kill(leader->herd->process().pid(), SIGKILL);
    Member* next = c.wait_leader(leader);
    if (!next) next = c.wait_leader(leader);  // the session ends 2 x TTL after the last renewal: up to 20 s
    REQUIRE(next);
    CHECK(test::eventually([&] {
        auto s = c.state(*next);
        return s.is_object() && s["assignments"] == before;
    }));
    CHECK(c.balanced(10));
}

TEST_CASE("dispatch: a write of an older term is put right by the leader", "[dispatch]") {
    Cluster c;
    auto& l = c.add_leader("L1");
    REQUIRE(l.herd->wait_ready());
    REQUIRE(c.wait_leader());
    auto& n = c.add_node("N1");
    for (int i = 0; i < 3; ++i)
        REQUIRE(test::HttpConnection(l.herd->port())
                    .request("PUT", "/api/v1/dispatch/checks/checks/db-" + std::to_string(i), check_body(i), kAuth)
                    .status == 201);
    REQUIRE(test::eventually([&] { return checks_in(n.confd).size() == 3; }));
    const auto file = (l.herd->dir() / "herd.toml").string();
    // What a deposed leader's late write looks like: an older term (0: older than any), N1 running nothing.
    REQUIRE(test::run({test::herd_binary().string(), "kv", "-c", file, "put", "herd/dispatch/checks/assign/N1",
                       R"({"term":0,"checks":[]})"})
                .code == 0);
    CHECK(test::eventually([&] {
        auto r = test::run({test::herd_binary().string(), "kv", "-c", file, "get", "herd/dispatch/checks/assign/N1"});
        return r.out.find(R"("checks":["db-0","db-1","db-2"])") != std::string::npos;
    }));
    CHECK(l.herd->metric("herd_dispatch_fenced_writes_total{pipeline=\"checks\"}") == 1.0);
    CHECK(checks_in(n.confd).size() == 3);  // the node never saw it
    auto a = test::run({test::herd_binary().string(), "dispatch", "-c", file, "assignments"});
    CHECK_THAT(a.out, Contains("db-0  N1  term "));
}

TEST_CASE("dispatch: checks from discovered targets, by template and by Datadog annotations", "[dispatch]") {
    Cluster c;
    const auto targets = c.shared / "targets.json";
    const std::string ann = "__meta_kubernetes_service_annotation_ad_datadoghq_com_service_";
    test::write_file(targets, R"([{"targets": ["10.0.0.1:8080", "10.0.0.2:8080"], "labels": {"team": "web"}},
 {"targets": ["redis.prod.svc:6379"], "labels": {"__meta_kubernetes_namespace": "prod", "__meta_kubernetes_service_name": "redis",
   ")" + ann + R"(check_names": "[\"redisdb\"]", ")" + ann + R"(init_configs": "[{}]",
   ")" + ann + R"(instances": "[{\"host\": \"%%host%%\", \"port\": \"%%port%%\"}]"}}])");
    auto& l = c.add_leader("L1", "checks = [{ discovery = \"web\", check_name = \"http_check\", instances = [{ url = \"http://%%host%%:%%port%%/health\" }] },\n"
                                 "          { discovery = \"web\", annotations = true }]\n\n"
                                 "[[discovery]]\nname = \"web\"\nplugin = \"sd_file\"\nfiles = [\"" + targets.string() + "\"]\n");
    REQUIRE(l.herd->wait_ready());
    REQUIRE(c.wait_leader());
    auto& n = c.add_node("N1");
    // 3 targets through the template, 1 annotated Service.
    REQUIRE(test::eventually([&] { return checks_in(n.confd).size() == 4; }));
    std::string all;
    for (auto it = fs::recursive_directory_iterator(n.confd); it != fs::recursive_directory_iterator(); ++it)
        if (it->path().extension() == ".yaml") all += test::read_file(it->path());
    CHECK_THAT(all, Contains("url: \"http://10.0.0.1:8080/health\"") && Contains("url: \"http://10.0.0.2:8080/health\"") &&
                        Contains("url: \"http://redis.prod.svc:6379/health\"") && Contains("host: \"redis.prod.svc\"") &&
                        Contains("port: \"6379\""));
    CHECK(fs::exists(n.confd / "redisdb.d"));
    // A target leaves: its check leaves the node.
    test::write_file(targets, R"([{"targets": ["10.0.0.1:8080"], "labels": {"team": "web"}}])");
    CHECK(test::eventually([&] { return checks_in(n.confd).size() == 1; }));
}

TEST_CASE("dispatch: the first node of a fresh cluster does not take everything", "[dispatch]") {
    Cluster c;
    c.timing = "lease = \"1s\"\nnode_expiration = \"3s\"\npoll_interval = \"1s\"\nrebalance_period = \"1h\"\n";
    auto& l = c.add_leader("L1");
    REQUIRE(l.herd->wait_ready());
    REQUIRE(c.wait_leader());
    for (int i = 0; i < 30; ++i)
        REQUIRE(test::HttpConnection(l.herd->port())
                    .request("PUT", "/api/v1/dispatch/checks/checks/db-" + std::to_string(i), check_body(i), kAuth)
                    .status == 201);
    // Past the new leader's own first poll_interval (which would hide the case):
    REQUIRE(test::eventually([&] {
        auto s = c.state(l);
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        return s.is_object() && now_ms - s["since"].get<int64_t>() > 1500;
    }));
    // The checks wait, dangling, for nodes. One comes up; the others a moment later (well within
    // one poll_interval).
    c.add_node("N1");
    REQUIRE(test::eventually([&] {
        auto s = c.state(l);
        return s.is_object() && s["nodes"].size() == 1;
    }));
    c.add_node("N2");
    c.add_node("N3");
    REQUIRE(test::eventually([&] { return c.balanced(30); }));
    // Placed once, on all three: nothing had to be moved off a first node.
    CHECK(l.herd->metric("herd_dispatch_moves_total{pipeline=\"checks\"}").value_or(0) == 0);
    for (auto& n : c.nodes) CHECK(checks_in(n->confd).size() == 10);
}

TEST_CASE("dispatch: a reload replaces the pipeline without losing a check or its leadership for long", "[dispatch]") {
    test::TempDir shared;
    const auto confd = shared / "conf.d";
    fs::create_directories(confd);
    auto config = [&](const std::string& poll) {
        return "[[sink]]\nname = \"confd\"\nplugin = \"sink_files\"\ndir = \"" + confd.string() +
               "\"\n\n[[dispatch]]\nname = \"checks\"\nrole = [\"leader\", \"node\"]\nnode_id = \"both\"\nsink = \"confd\"\n"
               "lease = \"1s\"\nnode_expiration = \"2s\"\npoll_interval = \"" + poll + "\"\n";
    };
    test::HerdRun h(config("250ms"));
    REQUIRE(h.wait_ready());
    for (int i = 0; i < 3; ++i)
        REQUIRE(test::HttpConnection(h.port()).request("PUT", "/api/v1/dispatch/checks/checks/db-" + std::to_string(i), check_body(i)).status == 201);
    REQUIRE(test::eventually([&] { return checks_in(confd).size() == 3; }));
    h.write_config(config("300ms"));
    h.process().signal(SIGHUP);
    REQUIRE(test::eventually([&] { return h.metric("herd_config_reloads_total{result=\"success\"}") == 1.0; }));
    CHECK(checks_in(confd).size() == 3);
    // The new pipeline leads and runs: a check put now reaches the agent.
    REQUIRE(test::HttpConnection(h.port()).request("PUT", "/api/v1/dispatch/checks/checks/db-9", check_body(9)).status == 201);
    CHECK(test::eventually([&] { return checks_in(confd).size() == 4; }));
    CHECK(h.metric("herd_dispatch_leader{pipeline=\"checks\"}") == 1.0);
}

TEST_CASE("dispatch: a herd node behind a real Prometheus runs probe jobs and reports their samples as weights",
          "[dispatch][prometheus]") {
    Cluster c;
    auto& l = c.add_leader("L1");
    REQUIRE(l.herd->wait_ready());
    REQUIRE(c.wait_leader());
    test::TempDir node_dir;
    const auto base = node_dir / "base.yml", output = node_dir / "prometheus.yml";
    test::write_file(base, "global:\n  scrape_interval: 1s\n");
    test::write_file(output, "global:\n  scrape_interval: 1s\n");
    test::PrometheusReplica prom("prom-dispatch", output);
    REQUIRE(prom.wait_ready());
    test::HerdRun node("[[sink]]\nname = \"prom\"\nplugin = \"sink_prometheus\"\nbase = \"" + base.string() + "\"\noutput = \"" +
                       output.string() + "\"\nreload_url = \"http://" + prom.address() +
                       "/-/reload\"\n\n[[dispatch]]\nname = \"checks\"\nrole = \"node\"\nnode_id = \"P1\"\ntoken = \"" + kToken +
                       "\"\nservers = [\"127.0.0.1:" + std::to_string(l.herd->port()) + "\"]\nsink = \"prom\"\nsink_format = \"scrape_config\"\n" +
                       c.timing);
    REQUIRE(node.wait_ready());
    // A probe job as a check: each instance is a scrape config (job_name defaults to the id).
    const std::string check = R"({"check_name":"prometheus","instances":[{"static_configs":[{"targets":["127.0.0.1:)" +
                              std::to_string(l.herd->port()) + R"("]}]}]})";
    REQUIRE(test::HttpConnection(l.herd->port()).request("PUT", "/api/v1/dispatch/checks/checks/herd-self", check, kAuth).status == 201);
    const bool rendered = test::eventually([&] { return test::read_file(output).find("herd-self") != std::string::npos; });
    INFO(test::read_file(output));
    INFO(node.process().err());
    CHECK(rendered);
    // Prometheus scrapes it; the node reports the job's samples with its status; the leader's load is that.
    CHECK(test::eventually(
        [&] {
            auto s = c.state(l);
            return s.is_object() && s["nodes"].size() == 1 && s["nodes"][0]["load"].get<double>() > 10;
        },
        std::chrono::seconds(30)));
}

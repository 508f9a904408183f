// The sharding pipeline end to end: three herds, each with its own real Prometheus behind
// sink_prometheus, sharing one kv_sqlite file; configs put through the Grafana Agent config API.
#include "herd_fixture.hpp"
#include "http_client.hpp"
#include "consul_double.hpp"
#include "etcd_server.hpp"
#include "prometheus.hpp"
#include "sharding/ring.hpp"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <csignal>
#include <set>
#include <thread>

using namespace herd;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

struct Node {
    std::string id;
    fs::path base, output;
    std::unique_ptr<test::PrometheusReplica> prom;
    std::unique_ptr<test::HerdRun> herd;
};

struct Fleet {
    test::TempDir shared;
    std::vector<std::unique_ptr<Node>> nodes;
    std::string kv;  // the [[kv]] table's plugin keys; default: one kv_sqlite file for all
    std::string extra;  // more of each herd's file (e.g. a [[discovery]]), and more [[sharding]] keys after it
    std::string sharding_extra;
    std::string heartbeat = "200ms", heartbeat_timeout = "1s";

    std::string kv_table() const {
        return "[[kv]]\nname = \"fleet\"\n" +
               (kv.empty() ? "plugin = \"kv_sqlite\"\npath = \"" + (shared / "fleet.sqlite").string() + "\"\n" : kv);
    }
    std::string herd_config(const Node& n) const {
        return kv_table() + "\n[[sink]]\nname = \"prom\"\nplugin = \"sink_prometheus\"\nbase = \"" + n.base.string() +
               "\"\noutput = \"" + n.output.string() + "\"\nreload_url = \"http://" + n.prom->address() +
               "/-/reload\"\n\n[[sharding]]\nname = \"scrape\"\nsink = \"prom\"\nmember_id = \"" + n.id +
               "\"\nheartbeat = \"" + heartbeat + "\"\nheartbeat_timeout = \"" + heartbeat_timeout + "\"\nreshard_interval = \"5s\"\nhandoff_timeout = \"3s\"\n"
               "max_config_size = \"64KiB\"\n" + sharding_extra + "\n" + extra;
    }
    // Starts a member per id and waits until each serves and sees all of them.
    void start(const std::vector<std::string>& ids) {
        for (const auto& id : ids) add(id);
        for (auto& n : nodes) {
            INFO(n->herd->process().err());
            REQUIRE(n->herd->wait_ready());
        }
        for (auto& n : nodes)
            REQUIRE(test::eventually([&] {
                return n->herd->metric("herd_sharding_members{pipeline=\"scrape\"}") == static_cast<double>(nodes.size());
            }));
    }
    // Configs cfg-0 .. cfg-<count-1> (job-<i>), put through the members' APIs in turn.
    void put_configs(int count);
    Node& add(const std::string& id) {
        auto n = std::make_unique<Node>();
        n->id = id;
        fs::create_directories(shared / id);
        n->base = shared / id / "base.yml";
        n->output = shared / id / "prometheus.yml";
        test::write_file(n->base, "global:\n  scrape_interval: 1s\n");
        test::write_file(n->output, "global:\n  scrape_interval: 1s\n");
        n->prom = std::make_unique<test::PrometheusReplica>("prom-" + id, n->output);
        REQUIRE(n->prom->wait_ready());
        n->herd = std::make_unique<test::HerdRun>(herd_config(*n));
        nodes.push_back(std::move(n));
        return *nodes.back();
    }
};

// The jobs in a rendered Prometheus file.
std::set<std::string> jobs_in(const fs::path& file) {
    std::set<std::string> out;
    try {
        auto doc = YAML::LoadFile(file.string());
        for (const auto& j : doc["scrape_configs"]) out.insert(j["job_name"].as<std::string>());
    } catch (const std::exception&) {
    }
    return out;
}

std::string config_yaml(const std::string& job) {
    return "scrape_configs:\n  - job_name: " + job + "\n    static_configs: [{targets: ['127.0.0.1:1']}]\n";
}

test::HttpResponse api(uint16_t port, const std::string& method, const std::string& path, const std::string& body = "") {
    return test::HttpConnection(port).request(method, path, body, {{"Content-Type", "application/yaml"}});
}

void Fleet::put_configs(int count) {
    for (int i = 0; i < count; ++i) {
        auto r = api(nodes[static_cast<size_t>(i) % nodes.size()]->herd->port(), "PUT",
                     "/agent/api/v1/config/cfg-" + std::to_string(i), config_yaml("job-" + std::to_string(i)));
        INFO(r.body);
        REQUIRE(r.status == 201);
    }
}

}  // namespace

TEST_CASE("sharding: three herds split 60 configs exactly, and a killed one's share moves without anyone",
          "[sharding][prometheus]") {
    Fleet fleet;
    fleet.start({"h1", "h2", "h3"});

    // 60 configs through the API of different members.
    for (int i = 0; i < 60; ++i) {
        auto& n = *fleet.nodes[static_cast<size_t>(i) % 3];
        auto r = api(n.herd->port(), "PUT", "/agent/api/v1/config/cfg-" + std::to_string(i), config_yaml("job-" + std::to_string(i)));
        INFO(r.body);
        REQUIRE(r.status == 201);
    }
    auto list = nlohmann::json::parse(api(fleet.nodes[0]->herd->port(), "GET", "/agent/api/v1/configs").body);
    CHECK(list["status"] == "success");
    CHECK(list["data"]["configs"].size() == 60);

    // Each Prometheus runs exactly its owner's share; the union is everything, no duplicates.
    sharding::Ring ring({"h1", "h2", "h3"}, sharding::kDefaultTokens);
    std::map<std::string, std::set<std::string>> expected;
    for (int i = 0; i < 60; ++i) expected[std::string(*ring.owner_of("cfg-" + std::to_string(i)))].insert("job-" + std::to_string(i));
    for (auto& n : fleet.nodes) {
        INFO(n->id);
        CHECK(test::eventually([&] { return jobs_in(n->output) == expected[n->id]; }));
    }
    // ... and Prometheus itself scrapes them (its discovery tick is 5 s).
    CHECK(test::eventually([&] {
        auto r = test::http_get(fleet.nodes[0]->prom->port(), "/api/v1/targets?state=active");
        if (r.status != 200) return false;
        auto doc = nlohmann::json::parse(r.body, nullptr, false);
        std::set<std::string> pools;
        for (const auto& t : doc["data"]["activeTargets"]) pools.insert(t.value("scrapePool", ""));
        return pools == expected["h1"];
    }));

    // A delete is gone from its owner's Prometheus config at once (not at the next relist).
    const std::string victim_owner(*ring.owner_of("cfg-7"));
    auto& owner_node = **std::find_if(fleet.nodes.begin(), fleet.nodes.end(), [&](auto& n) { return n->id == victim_owner; });
    REQUIRE(api(fleet.nodes[1]->herd->port(), "DELETE", "/agent/api/v1/config/cfg-7").status == 200);
    const auto deleted_at = std::chrono::steady_clock::now();
    CHECK(test::eventually([&] { return jobs_in(owner_node.output).count("job-7") == 0; }, std::chrono::seconds(2)));
    INFO("delete applied after " << std::chrono::duration<double>(std::chrono::steady_clock::now() - deleted_at).count() << " s");
    expected[victim_owner].erase("job-7");

    // SIGKILL one member: its configs run on the survivors within heartbeat_timeout + a reshard.
    auto& dead = *fleet.nodes[2];
    dead.herd->process().signal(SIGKILL);
    const auto killed_at = std::chrono::steady_clock::now();
    sharding::Ring survivors({"h1", "h2"}, sharding::kDefaultTokens);
    std::map<std::string, std::set<std::string>> after;
    for (int i = 0; i < 60; ++i)
        if (i != 7) after[std::string(*survivors.owner_of("cfg-" + std::to_string(i)))].insert("job-" + std::to_string(i));
    CHECK(test::eventually([&] {
        return jobs_in(fleet.nodes[0]->output) == after["h1"] && jobs_in(fleet.nodes[1]->output) == after["h2"];
    }, std::chrono::seconds(15)));
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
    INFO("re-owned " << took << " s after the kill (heartbeat_timeout 1 s)");
    CHECK(took < 6.0);
}

TEST_CASE("sharding: the config API refuses bad input with the agent's envelope and stores nothing",
          "[sharding][bad-input]") {
    Fleet fleet;
    auto& n = fleet.add("solo");
    REQUIRE(n.herd->wait_ready());
    const uint16_t port = n.herd->port();
    REQUIRE(api(port, "PUT", "/agent/api/v1/config/a", config_yaml("shared-job")).status == 201);
    REQUIRE(api(port, "PUT", "/agent/api/v1/config/a", config_yaml("shared-job")).status == 200);  // updated
    struct Case {
        const char* what;
        std::string method, path, body;
        int status;
        std::string says;
    };
    const std::vector<Case> cases = {
        {"malformed YAML", "PUT", "/agent/api/v1/config/b", "scrape_configs: [unclosed", 400, "not valid YAML"},
        {"a job_name another config has", "PUT", "/agent/api/v1/config/b", config_yaml("shared-job"), 400,
         "already used by config \"a\""},
        {"no job_name", "PUT", "/agent/api/v1/config/b", "scrape_configs: [{static_configs: []}]\n", 400, "no job_name"},
        {"an unknown key", "PUT", "/agent/api/v1/config/b", "scrape_config: []\n", 400, "unknown key"},
        {"oversized", "PUT", "/agent/api/v1/config/b", "# " + std::string(70000, 'x') + "\n" + config_yaml("big"), 413,
         "max_config_size"},
        {"an unknown method", "PATCH", "/agent/api/v1/config/b", "", 405, "PUT, POST or DELETE"},
        {"an empty name", "PUT", "/agent/api/v1/config/", config_yaml("x"), 400, "invalid config name"},
        {"a name too long", "PUT", "/agent/api/v1/config/" + std::string(300, 'n'), config_yaml("y"), 400, "invalid config name"},
        {"a bad escape", "PUT", "/agent/api/v1/config/a%zz", config_yaml("z"), 400, "invalid config name"},
        {"a missing config", "DELETE", "/agent/api/v1/config/nope", "", 404, "does not exist"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        auto r = api(port, c.method, c.path, c.body);
        CHECK(r.status == c.status);
        auto j = nlohmann::json::parse(r.body, nullptr, false);
        CHECK(j["status"] == "error");
        CHECK_THAT(j["data"]["error"].get<std::string>(), Contains(c.says));
    }
    auto list = nlohmann::json::parse(api(port, "GET", "/agent/api/v1/configs").body);
    CHECK(list["data"]["configs"] == nlohmann::json::array({"a"}));
    // Names are URL-decoded, as the agent does.
    REQUIRE(api(port, "PUT", "/agent/api/v1/config/hello%2Fworld", config_yaml("hw")).status == 201);
    auto got = nlohmann::json::parse(api(port, "GET", "/agent/api/v1/configs/hello%2Fworld").body);
    CHECK(got["data"]["value"] == config_yaml("hw"));
    CHECK(test::eventually([&] { return jobs_in(n.output) == std::set<std::string>{"shared-job", "hw"}; }));
    // /status shows the ring with its picture.
    CHECK_THAT(n.herd->get("/status").body, Contains("sharding <b>scrape</b>") && Contains("<svg"));
}

TEST_CASE("sharding: a joining member takes about 1/N, make-before-break, and an edit moves nothing", "[sharding][prometheus]") {
    Fleet fleet;
    fleet.start({"h1", "h2", "h3"});
    fleet.put_configs(60);
    auto owners = [&](const std::vector<std::string>& members) {
        sharding::Ring ring(members, sharding::kDefaultTokens);
        std::map<std::string, std::string> out;  // job -> member
        for (int i = 0; i < 60; ++i) out["job-" + std::to_string(i)] = std::string(*ring.owner_of("cfg-" + std::to_string(i)));
        return out;
    };
    auto converged = [&](const std::map<std::string, std::string>& want) {
        for (auto& n : fleet.nodes) {
            std::set<std::string> expect;
            for (const auto& [job, m] : want)
                if (m == n->id) expect.insert(job);
            if (jobs_in(n->output) != expect) return false;
        }
        return true;
    };
    const auto before = owners({"h1", "h2", "h3"});
    REQUIRE(test::eventually([&] { return converged(before); }));

    // An edit changes the config, never its owner.
    const std::string owner_of_5 = before.at("job-5");
    REQUIRE(api(fleet.nodes[1]->herd->port(), "PUT", "/agent/api/v1/config/cfg-5",
                "scrape_configs:\n  - job_name: job-5\n    static_configs: [{targets: ['127.0.0.1:2']}]\n")
                .status == 200);
    auto& n5 = **std::find_if(fleet.nodes.begin(), fleet.nodes.end(), [&](auto& n) { return n->id == owner_of_5; });
    CHECK(test::eventually([&] { return test::read_file(n5.output).find("127.0.0.1:2") != std::string::npos; }));
    CHECK(converged(before));

    // A fourth member joins: only ~1/4 of the configs move, all to it, and every moved job runs
    // somewhere at every moment (the old owner drops it only after the new one applied it).
    fleet.add("h4");
    REQUIRE(fleet.nodes[3]->herd->wait_serving());
    const auto after = owners({"h1", "h2", "h3", "h4"});
    size_t moved = 0;
    for (const auto& [job, m] : after) moved += before.at(job) != m;
    CHECK(moved <= static_cast<size_t>(1.2 * 60 / 4));
    size_t gaps = 0, samples = 0;
    CHECK(test::eventually([&] {
        for (const auto& [job, m] : after) {
            if (before.at(job) == m) continue;
            auto& old_node = **std::find_if(fleet.nodes.begin(), fleet.nodes.end(), [&](auto& n) { return n->id == before.at(job); });
            auto& new_node = *fleet.nodes[3];
            // The old owner first: if it no longer has the job, the new one had it before that.
            const bool in_old = jobs_in(old_node.output).count(job) == 1;
            const bool in_new = jobs_in(new_node.output).count(job) == 1;
            gaps += !in_old && !in_new;
            ++samples;
        }
        return converged(after);
    }, std::chrono::seconds(20)));
    INFO(samples << " samples of moved jobs during the join");
    CHECK(gaps == 0);
    CHECK(fleet.nodes[3]->herd->metric("herd_sharding_members{pipeline=\"scrape\"}") == 4);
}

TEST_CASE("sharding on a real etcd: an exact split, and etcd down for 30 s loses no job", "[sharding][prometheus][etcd]") {
    test::EtcdServer etcd;
    Fleet fleet;
    fleet.kv = "plugin = \"kv_etcd\"\nendpoints = [\"" + etcd.url() + "\"]\ntimeout = \"1s\"\n";
    fleet.start({"e1", "e2", "e3"});
    fleet.put_configs(30);
    sharding::Ring ring({"e1", "e2", "e3"}, sharding::kDefaultTokens);
    std::map<std::string, std::set<std::string>> expected;
    for (int i = 0; i < 30; ++i) expected[std::string(*ring.owner_of("cfg-" + std::to_string(i)))].insert("job-" + std::to_string(i));
    auto converged = [&] {
        for (auto& n : fleet.nodes)
            if (jobs_in(n->output) != expected[n->id]) return false;
        return true;
    };
    REQUIRE(test::eventually(converged));

    // The store goes away for far longer than heartbeat_timeout: every member keeps its agent's
    // jobs (degraded, said in metrics), and afterwards the ring converges again by itself.
    etcd.stop();
    CHECK(test::eventually([&] { return fleet.nodes[0]->herd->metric("herd_sharding_degraded{pipeline=\"scrape\"}") == 1; }));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool lost = false;
    while (std::chrono::steady_clock::now() < until) {  // bounded: 30 s, sampling what each agent runs
        for (auto& n : fleet.nodes) lost = lost || jobs_in(n->output) != expected[n->id];
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    CHECK_FALSE(lost);
    etcd.start();
    CHECK(test::eventually([&] { return fleet.nodes[0]->herd->metric("herd_sharding_degraded{pipeline=\"scrape\"}") == 0; }));
    for (auto& n : fleet.nodes)
        CHECK(test::eventually([&] { return n->herd->metric("herd_sharding_members{pipeline=\"scrape\"}") == 3; }));
    CHECK(test::eventually(converged));
}

TEST_CASE("sharding discovered targets: 200 targets split exactly over three members, and a leaver's move",
          "[sharding][prometheus][targets]") {
    Fleet fleet;
    std::string list;
    std::vector<std::string> addresses;
    for (int i = 0; i < 200; ++i) {
        addresses.push_back("10.0." + std::to_string(i / 100) + "." + std::to_string(i % 100) + ":9100");
        list += (i ? ", \"" : "\"") + addresses.back() + "\"";
    }
    fleet.sharding_extra = "targets = [\"nodes\"]\n";
    fleet.extra = "[[discovery]]\nname = \"nodes\"\nplugin = \"sd_file\"\ntargets = [" + list + "]\n";
    for (const char* id : {"t1", "t2", "t3"}) fleet.add(id);
    for (auto& n : fleet.nodes) REQUIRE(n->herd->wait_ready());
    auto targets_of = [](const Node& n) {
        std::set<std::string> out;
        auto text = test::read_file(n.output.parent_path() / "herd-file-sd" / "targets-nodes.json");
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_array())
            for (const auto& g : j)
                for (const auto& t : g["targets"]) out.insert(t.get<std::string>());
        return out;
    };
    auto expected_for = [&](const std::vector<std::string>& members) {
        sharding::Ring ring(members, sharding::kDefaultTokens);
        std::map<std::string, std::set<std::string>> out;
        for (const auto& a : addresses) out[std::string(*ring.owner(sharding::target_key({{"__address__", a}})))].insert(a);
        return out;
    };
    auto three = expected_for({"t1", "t2", "t3"});
    for (auto& n : fleet.nodes) {
        INFO(n->id);
        CHECK(test::eventually([&] { return targets_of(*n) == three[n->id]; }));
    }
    // A member leaves (SIGTERM: make-before-break, then it empties its sink): its targets move.
    fleet.nodes[2]->herd->process().signal(SIGTERM);
    REQUIRE(fleet.nodes[2]->herd->process().wait(std::chrono::seconds(15)) == 0);
    auto two = expected_for({"t1", "t2"});
    CHECK(test::eventually([&] { return targets_of(*fleet.nodes[0]) == two["t1"] && targets_of(*fleet.nodes[1]) == two["t2"]; }));
    CHECK(targets_of(*fleet.nodes[2]).empty());  // it emptied its agent on the way out
}

TEST_CASE("herd sharding: configs, get, put, del, ring and owner from the command line", "[sharding][cli]") {
    Fleet fleet;
    auto& n = fleet.add("cli1");
    REQUIRE(n.herd->wait_ready());
    REQUIRE(test::eventually([&] { return n.herd->metric("herd_sharding_members{pipeline=\"scrape\"}") == 1; }));
    const std::string file = (n.herd->dir() / "herd.toml").string();
    auto herd_sharding = [&](std::vector<std::string> rest) {
        std::vector<std::string> a{test::herd_binary().string(), "sharding", "-c", file};
        a.insert(a.end(), rest.begin(), rest.end());
        return test::run(a);
    };
    test::write_file(fleet.shared / "c.yml", config_yaml("from-cli"));
    auto put = herd_sharding({"put", "from-cli", (fleet.shared / "c.yml").string()});
    INFO(put.err);
    REQUIRE(put.code == 0);
    CHECK(put.out == "created\n");
    CHECK(herd_sharding({"configs"}).out == "from-cli\n");
    CHECK(herd_sharding({"get", "from-cli"}).out == config_yaml("from-cli"));
    CHECK(herd_sharding({"owner", "from-cli"}).out == "cli1\n");
    CHECK_THAT(herd_sharding({"ring"}).out, Contains("cli1  active") && Contains("share 100.00%") && Contains("configs 1"));
    // The running member applies what the CLI stored.
    CHECK(test::eventually([&] { return jobs_in(n.output) == std::set<std::string>{"from-cli"}; }));
    test::write_file(fleet.shared / "bad.yml", "scrape_configs: [{static_configs: []}]\n");
    auto bad = herd_sharding({"put", "bad", (fleet.shared / "bad.yml").string()});
    CHECK(bad.code == 1);
    CHECK_THAT(bad.err, Contains("has no job_name"));
    CHECK(herd_sharding({"del", "from-cli"}).code == 0);
    CHECK(herd_sharding({"del", "from-cli"}).code == 1);
    CHECK(test::eventually([&] { return jobs_in(n.output).empty(); }));
}

TEST_CASE("sharding on Consul (the protocol double): membership by sessions, exact ownership, a dead member re-owned",
          "[sharding][consul]") {
    test::ConsulDouble consul;  // Consul's own rules: session TTL at least 10 s, ended 2 x TTL after the last renewal
    Fleet fleet;
    fleet.kv = "plugin = \"kv_consul\"\naddress = \"" + consul.address() + "\"\n";
    fleet.heartbeat = "2s";
    fleet.heartbeat_timeout = "10s";
    fleet.start({"c1", "c2", "c3"});
    fleet.put_configs(30);
    auto expected_for = [](const std::vector<std::string>& members) {
        sharding::Ring ring(members, sharding::kDefaultTokens);
        std::map<std::string, std::set<std::string>> out;
        for (int i = 0; i < 30; ++i) out[std::string(*ring.owner_of("cfg-" + std::to_string(i)))].insert("job-" + std::to_string(i));
        return out;
    };
    auto three = expected_for({"c1", "c2", "c3"});
    for (auto& n : fleet.nodes) CHECK(test::eventually([&] { return jobs_in(n->output) == three[n->id]; }));
    fleet.nodes[2]->herd->process().signal(SIGKILL);
    auto two = expected_for({"c1", "c2"});
    CHECK(test::eventually([&] { return jobs_in(fleet.nodes[0]->output) == two["c1"] && jobs_in(fleet.nodes[1]->output) == two["c2"]; },
                           std::chrono::seconds(45)));
}

TEST_CASE("sharding: a killed member that comes back takes its share back, with no moment a job runs nowhere",
          "[sharding][prometheus]") {
    Fleet fleet;
    fleet.start({"r1", "r2", "r3"});
    fleet.put_configs(45);
    auto owners = [](const std::vector<std::string>& members) {
        sharding::Ring ring(members, sharding::kDefaultTokens);
        std::map<std::string, std::string> out;
        for (int i = 0; i < 45; ++i) out["job-" + std::to_string(i)] = std::string(*ring.owner_of("cfg-" + std::to_string(i)));
        return out;
    };
    auto node = [&](const std::string& id) -> Node& {
        return **std::find_if(fleet.nodes.begin(), fleet.nodes.end(), [&](auto& n) { return n->id == id; });
    };
    auto converged = [&](const std::map<std::string, std::string>& want, const std::vector<std::string>& live) {
        for (const auto& id : live) {
            std::set<std::string> expect;
            for (const auto& [job, m] : want)
                if (m == id) expect.insert(job);
            if (jobs_in(node(id).output) != expect) return false;
        }
        return true;
    };
    const auto all3 = owners({"r1", "r2", "r3"});
    REQUIRE(test::eventually([&] { return converged(all3, {"r1", "r2", "r3"}); }));
    // r3 dies; the others take its share.
    auto& r3 = node("r3");
    r3.herd->process().signal(SIGKILL);
    r3.herd->process().wait(std::chrono::seconds(5));
    const auto two = owners({"r1", "r2"});
    REQUIRE(test::eventually([&] { return converged(two, {"r1", "r2"}); }));
    // It comes back (same member id, same agent): it takes its share back, make-before-break.
    r3.herd = std::make_unique<test::HerdRun>(fleet.herd_config(r3));
    size_t gaps = 0;
    CHECK(test::eventually([&] {
        for (const auto& [job, m] : all3) {
            if (m != "r3") continue;
            const bool in_old = jobs_in(node(two.at(job)).output).count(job) == 1;  // the temporary owner first
            const bool in_new = jobs_in(r3.output).count(job) == 1;
            gaps += !in_old && !in_new;
        }
        return converged(all3, {"r1", "r2", "r3"});
    }, std::chrono::seconds(20)));
    CHECK(gaps == 0);
}

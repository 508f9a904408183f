// The conformance kit as plugin authors run it (`herd conformance`): every in-tree plugin passes it
// against real servers or the protocol doubles, and a plugin that breaks the contract on purpose
// (flawed_plugin.cpp) fails exactly the cases it breaks. Each case also runs in CI this way.
#include "consul_double.hpp"
#include "etcd_server.hpp"
#include "k8s_double.hpp"
#include "marathon_double.hpp"
#include "prometheus.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <map>
#include <set>

using namespace herd;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

struct Report {
    int code = -1;
    json j;
    std::string out, err;
    std::map<std::string, std::string> results;  // case id -> pass|fail|skip
    std::string failures() const {
        std::string s;
        if (j.is_object())
            for (const auto& c : j["cases"])
                for (const auto& f : c["failures"]) s += c["id"].get<std::string>() + ": " + f.get<std::string>() + "\n";
        return s + err;
    }
};

Report kit(const std::string& plugin, std::vector<std::string> args) {
    std::vector<std::string> argv{test::herd_binary().string(), "conformance", "--plugin", plugin, "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = test::run(argv, std::chrono::minutes(5));
    Report rep{r.code, json::parse(r.out, nullptr, false), r.out, r.err, {}};
    if (rep.j.is_object())
        for (const auto& c : rep.j["cases"]) rep.results[c["id"]] = c["result"];
    return rep;
}

// Every case ran, and none failed (skips listed in `skips`, each with its reason).
void all_pass(const Report& r, const std::set<std::string>& skips = {}) {
    INFO(r.failures());
    REQUIRE(r.j.is_object());
    CHECK(r.code == 0);
    CHECK(r.j["failed"] == 0);
    for (const auto& [id, result] : r.results) {
        INFO(id);
        CHECK(result == (skips.count(id) ? "skip" : "pass"));
    }
}

std::string plugin(const std::string& name) { return (test::plugin_dir() / (name + ".so")).string(); }

// Without --stop-command/--start-command the server-failure cases skip.
const std::set<std::string> server_cases{"kv.server_down", "kv.restart_watch", "kv.restart_cas"};

// An etcd the kit stops and starts by shell commands, as a plugin author's CI would.
struct ScriptedEtcd {
    test::TempDir dir;
    uint16_t client = test::free_port(), peer = test::free_port();
    std::string url() const { return "http://127.0.0.1:" + std::to_string(client); }
    std::string start() const { return "sh " + (dir / "start.sh").string(); }
    std::string stop() const { return "sh " + (dir / "stop.sh").string(); }
    ScriptedEtcd() {
        const std::string p = "http://127.0.0.1:" + std::to_string(peer);
        test::write_file(dir / "start.sh",
                         "/usr/bin/etcd --name kit --data-dir " + (dir / "data").string() + " --listen-client-urls " + url() +
                             " --advertise-client-urls " + url() + " --listen-peer-urls " + p + " --initial-advertise-peer-urls " + p +
                             " --initial-cluster kit=" + p + " > " + (dir / "etcd.log").string() + " 2>&1 &\n"
                             "echo $! > " + (dir / "pid").string() + "\n"
                             "for i in $(seq 1 300); do curl -fs " + url() + "/health | grep -q true && exit 0; sleep 0.1; done\nexit 1\n");
        test::write_file(dir / "stop.sh", "pid=$(cat " + (dir / "pid").string() +
                                              ")\nkill $pid\nwhile kill -0 $pid 2>/dev/null; do sleep 0.05; done\n");
        if (std::system(start().c_str()) != 0) {  // stopped on this path too: the destructor will not run
            std::system((stop() + " 2>/dev/null").c_str());
            FAIL("etcd did not start: " + test::read_file(dir / "etcd.log"));
        }
    }
    ~ScriptedEtcd() { std::system((stop() + " 2>/dev/null").c_str()); }
};

json pod(const std::string& name, const std::string& ip) {
    return {{"metadata", {{"name", name}, {"namespace", "monitoring"}, {"labels", {{"app", "prometheus"}}}}},
            {"spec", {{"containers", {{{"name", "prometheus"}, {"ports", {{{"name", "web"}, {"containerPort", 9090}, {"protocol", "TCP"}}}}}}}}},
            {"status", {{"phase", "Running"}, {"podIP", ip}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
}

}  // namespace

TEST_CASE("conformance kit: kv_sqlite passes, with history, binary keys and leases required", "[conformance][kv]") {
    test::TempDir dir;
    auto r = kit(plugin("kv_sqlite"), {"--config", R"({"path":")" + (dir / "kv.sqlite").string() + R"(","poll_interval":"20ms"})",
                                       "--require", "history,binary-keys,leases"});
    all_pass(r, server_cases);  // a file has no server to stop
    CHECK(r.results.size() == 17);
}

TEST_CASE("conformance kit: kv_etcd passes against a real etcd, the kit stopping and starting it", "[conformance][kv][etcd]") {
    ScriptedEtcd etcd;
    auto r = kit(plugin("kv_etcd"), {"--config", R"({"endpoints":[")" + etcd.url() + R"("],"prefix":"conf/","timeout":"2s"})",
                                     "--require", "history,binary-keys,leases,server-control", "--stop-command", etcd.stop(),
                                     "--start-command", etcd.start()});
    all_pass(r);
    CHECK(r.results.count("kv.restart_cas") == 1);
}

TEST_CASE("conformance kit: kv_consul passes against the Consul double, refusing binary keys by name", "[conformance][kv][consul]") {
    test::ConsulDouble consul;
    const std::string config = R"({"address":")" + consul.address() + R"(","prefix":"conf/","watch_wait":"2s","watch_rate":100})";
    auto r = kit(plugin("kv_consul"), {"--config", config, "--require", "leases"});
    all_pass(r, server_cases);  // the double runs inside this test: herd's own tests/kv restart it
    // Consul keeps no binary keys: allowed, but said; and required, a failure.
    std::string notes;
    for (const auto& c : r.j["cases"])
        if (c["id"] == "kv.binary") notes = c["notes"].dump();
    CHECK_THAT(notes, Contains("binary keys refused"));
    auto strict = kit(plugin("kv_consul"), {"--config", config, "--case", "kv.binary", "--require", "binary-keys"});
    CHECK(strict.code == 1);
    CHECK(strict.results == std::map<std::string, std::string>{{"kv.binary", "fail"}});
}

TEST_CASE("conformance kit: sd_file, sd_k8s and sd_marathon pass", "[conformance][discovery]") {
    test::TempDir dir;
    test::write_file(dir / "targets.json", R"([{"targets":["10.0.0.1:9090","10.0.0.2:9090"],"labels":{"job":"prom"}}])");
    all_pass(kit(plugin("sd_file"), {"--config", R"({"files":[")" + (dir / "targets.json").string() + R"("],"refresh_interval":"1s"})"}));

    test::K8sDouble k8s;
    k8s.apply("pods", pod("prom-0", "10.0.0.1"));
    k8s.apply("pods", pod("prom-1", "10.0.0.2"));
    all_pass(kit(plugin("sd_k8s"), {"--config", R"({"api_server":")" + k8s.url() + R"(","role":"pod","timeout":"2s"})"}));

    test::MarathonDouble m;
    m.set_apps(json::array({{{"id", "/prom"}, {"tasks", {{{"id", "prom.1"}, {"host", "10.0.0.3"}, {"ports", {31000}}, {"state", "TASK_RUNNING"}}}}}}));
    all_pass(kit(plugin("sd_marathon"), {"--config", R"({"servers":[")" + m.url() + R"("],"refresh_interval":"100ms"})"}));
}

TEST_CASE("conformance kit: every selector strategy and affinity module passes", "[conformance][selector][affinity]") {
    // Without a configuration there is no key whose type the kit could vary.
    for (const std::string f : {"random", "first-ready"}) {
        INFO(f);
        all_pass(kit(plugin("selector"), {"--factory", f}), {"create.wrong_types"});
    }
    all_pass(kit(plugin("selector"), {"--factory", "single-most-data", "--config", R"({"bytes_per_sample":1.3,"margin":0.05})"}));
    all_pass(kit(plugin("selector"), {"--factory", "minimum-history", "--config", R"({"history":"1h"})"}));
    all_pass(kit(plugin("affinity"), {"--factory", "cookie", "--config", R"({"cookie":"herd_backend"})"}));
    all_pass(kit(plugin("affinity"), {"--factory", "sourceip", "--config", R"({"size":1024})"}));
}

TEST_CASE("conformance kit: sink_files and sink_prometheus (a real Prometheus) pass", "[conformance][sink][prometheus]") {
    test::TempDir dir;
    // sink_files writes what it is given (its agent reads the files): no validation, no load.
    all_pass(kit(plugin("sink_files"), {"--config", R"({"dir":")" + (dir / "out").string() + R"("})"}), {"sink.load"});
    all_pass(kit(plugin("sink_files"), {"--media-type", "target-groups", "--config", R"({"dir":")" + (dir / "sd").string() + R"("})"}),
             {"sink.load"});

    const auto base = dir / "base.yml", output = dir / "prometheus.yml";
    test::write_file(base, "global:\n  scrape_interval: 1s\nscrape_configs: []\n");
    test::write_file(output, test::read_file(base));
    test::PrometheusReplica prom("prom", output);
    REQUIRE(prom.wait_ready());
    const std::string url = "http://" + prom.address();
    auto r = kit(plugin("sink_prometheus"), {"--require", "validation,load", "--config",
                                             R"({"base":")" + base.string() + R"(","output":")" + output.string() +
                                                 R"(","reload_url":")" + url + R"(/-/reload","metrics_url":")" + url + R"(/metrics"})"});
    all_pass(r);
}

TEST_CASE("conformance kit: a plugin that breaks the contract fails exactly the cases it breaks", "[conformance][flawed]") {
    const std::string flawed = (test::fixture_dir() / "flawed.so").string();
    auto kv = kit(flawed, {"--factory", "flawed_kv", "--wait", "2s"});
    INFO(kv.out);
    CHECK(kv.code == 1);
    CHECK(kv.results["create.unknown_key"] == "fail");
    CHECK(kv.results["kv.basic"] == "fail");        // NOT_FOUND without the key's name
    CHECK(kv.results["kv.cas"] == "fail");
    CHECK(kv.results["kv.cas_threads"] == "fail");  // lost updates
    CHECK(kv.results["kv.watch_order"] == "fail");  // nothing delivered
    CHECK(kv.results["kv.leases"] == "skip");

    auto sd = kit(flawed, {"--factory", "flawed_discovery", "--wait", "2s"});
    INFO(sd.out);
    CHECK(sd.results["create.starts_nothing"] == "fail");
    CHECK(sd.results["discovery.first_groups"] == "fail");  // a target without __address__
    CHECK(sd.results["discovery.stop"] == "fail");          // called after stop

    auto sel = kit(flawed, {"--factory", "flawed_selector"});
    CHECK(sel.results["selector.select"] == "fail");
    CHECK(sel.results["selector.pick_concurrent"] == "pass");  // the SDK keeps pick() in range for it
    CHECK(sel.results["create.unknown_key"] == "pass");
    auto raw = kit(flawed, {"--factory", "flawed_raw_selector"});
    CHECK(raw.results["selector.pick_concurrent"] == "fail");
    CHECK(raw.results["selector.pick_one"] == "fail");
    CHECK(raw.results["create.unknown_key"] == "fail");  // refused, but without naming the key

    auto aff = kit(flawed, {"--factory", "flawed_affinity"});
    CHECK(aff.results["affinity.binds"] == "fail");

    auto sink = kit(flawed, {"--factory", "flawed_sink"});
    CHECK(sink.results["sink.exact_set"] == "fail");
    CHECK(sink.results["sink.held_after_recreate"] == "fail");  // nothing survives the instance
    CHECK(sink.results["sink.idempotent"] == "pass");
}

TEST_CASE("conformance kit: a crash is that case's failure, the other cases still run", "[conformance]") {
    auto r = kit((test::fixture_dir() / "crash_create.so").string(), {});
    INFO(r.out);
    CHECK(r.code == 1);
    CHECK(r.results.size() >= 3);
    CHECK_THAT(r.failures(), Contains("crashed: SIGSEGV"));
}

TEST_CASE("conformance kit: usage errors name what is wrong", "[conformance]") {
    auto missing = kit("/nonexistent/x.so", {});
    CHECK(missing.code == 2);
    CHECK_THAT(missing.err, Contains("/nonexistent/x.so"));
    auto wrong_kind = kit(plugin("kv_sqlite"), {"--kind", "sink"});
    CHECK(wrong_kind.code == 2);
    CHECK_THAT(wrong_kind.err, Contains("sink"));
    auto no_case = kit(plugin("kv_sqlite"), {"--case", "nothing*"});
    CHECK(no_case.code == 2);
    CHECK_THAT(no_case.err, Contains("no case matches"));
    auto list = test::run({test::herd_binary().string(), "conformance", "--kind", "sink", "--list"});
    CHECK(list.code == 0);
    CHECK_THAT(list.out, Contains("sink.exact_set") && Contains("create.unknown_key"));
}

// sink_prometheus against a real Prometheus 2.42 from Debian, started by the test with
// --web.enable-lifecycle: exactly the applied jobs run, a refused item is named and changes
// nothing, Prometheus down is a clear error and a retry succeeds, SIGHUP works, file_sd groups
// need no reload.
#include "prometheus.hpp"
#include "sink_fixture.hpp"

#include <nlohmann/json.hpp>

#include <set>

using namespace herd;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

// A Prometheus whose config file is the sink's output, and the base file the user keeps.
struct Rig {
    test::TempDir t;
    fs::path base = t / "base.yml", output = t / "prometheus.yml", file_sd = t / "herd-file-sd";
    std::unique_ptr<test::PrometheusReplica> prom;

    Rig() {
        test::write_file(base, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                               "  - job_name: self\n    static_configs: [{targets: ['127.0.0.1:1']}]\n"
                               "  - job_name: herd-targets\n    file_sd_configs:\n      - files: ['" +
                                   file_sd.string() + "/*.json']\n        refresh_interval: 1s\n");
        test::write_file(output, test::read_file(base));  // Prometheus starts on the base alone
        prom = std::make_unique<test::PrometheusReplica>("prom", output);
        REQUIRE(prom->wait_ready());
    }
    std::string config(const std::string& extra = "") const {
        return R"({"base":")" + base.string() + R"(","output":")" + output.string() + R"(","reload_url":"http://)" +
               prom->address() + R"(/-/reload")" + extra + "}";
    }
    // The jobs (scrape pools) Prometheus runs targets for right now.
    std::set<std::string> jobs() const {
        auto r = test::http_get(prom->port(), "/api/v1/targets?state=active");
        std::set<std::string> out;
        if (r.status != 200) return out;
        const auto doc = nlohmann::json::parse(r.body, nullptr, false);
        if (doc.is_discarded() || !doc.contains("data")) return out;
        for (const auto& t : doc["data"]["activeTargets"]) out.insert(t.value("scrapePool", ""));
        return out;
    }
    std::optional<double> reload_time() const {
        return prom->metric("prometheus_config_last_reload_success_timestamp_seconds");
    }
};

sink::Item job(const std::string& name, const std::string& extra = "") {
    return test::scrape_item(name, "scrape_configs:\n  - job_name: " + name + "\n    static_configs: [{targets: ['127.0.0.1:2']}]\n" + extra);
}

const std::string kBadRegex = "    relabel_configs:\n      - {source_labels: [x], regex: '(unclosed', action: keep}\n";

}  // namespace

TEST_CASE("sink_prometheus: Prometheus runs exactly the applied jobs, plus the base file's", "[sink][sink_prometheus][prometheus]") {
    Rig rig;
    test::Sink s("sink_prometheus", rig.config(), rig.t.path());
    INFO(s.create_error);
    REQUIRE(s.inst);
    REQUIRE(s.apply({job("a"), job("b"), job("c")}).ok());
    // The reload was confirmed before apply returned; Prometheus' scrape manager takes up to its
    // 5 s discovery tick to show the new targets.
    CHECK(test::eventually([&] { return rig.jobs() == std::set<std::string>{"self", "a", "b", "c"}; }));
    CHECK(s.held().size() == 3);

    REQUIRE(s.apply({job("a"), job("b")}).ok());
    CHECK(test::eventually([&] { return rig.jobs() == std::set<std::string>{"self", "a", "b"}; }));

    // Idempotent: the same set again does not even reload.
    const auto t0 = rig.reload_time();
    REQUIRE(s.apply({job("a"), job("b")}).ok());
    CHECK(rig.reload_time() == t0);

    // An item Prometheus would refuse (an invalid regex): named, nothing changes — promtool
    // catches it before the file is swapped in.
    const std::string good_file = test::read_file(rig.output);
    auto r = s.apply({job("a"), job("b"), job("broken", kBadRegex)});
    CHECK_FALSE(r.ok());
    REQUIRE(r.refused.size() == 1);
    CHECK(r.refused[0].first == "broken");
    CHECK_THAT(r.message, Contains("broken"));
    CHECK(test::read_file(rig.output) == good_file);
    CHECK(test::eventually([&] { return rig.jobs() == std::set<std::string>{"self", "a", "b"}; }));
    CHECK(s.held().size() == 2);

    // A job_name the base file has: refused naming both.
    auto dup = s.apply({job("a"), test::scrape_item("mine", "scrape_configs: [{job_name: self}]\n")});
    CHECK_FALSE(dup.ok());
    REQUIRE(dup.refused.size() == 1);
    CHECK(dup.refused[0].first == "mine");
    CHECK_THAT(dup.refused[0].second, Contains("self") && Contains(rig.base.string()));

    // Per-item load: what each item's jobs scraped (the targets are down here: 0).
    auto load = s.client->load();
    REQUIRE(load);
    auto l = nlohmann::json::parse(*load);
    CHECK(l.contains("a"));
    CHECK(l.contains("b"));
}

TEST_CASE("sink_prometheus without promtool: Prometheus' own refusal is named, the last good file restored",
          "[sink][sink_prometheus][prometheus]") {
    Rig rig;
    test::Sink s("sink_prometheus", rig.config(R"(,"promtool":"")"), rig.t.path());
    REQUIRE(s.inst);
    REQUIRE(s.apply({job("a")}).ok());
    const std::string good_file = test::read_file(rig.output);
    auto r = s.apply({job("a"), job("b"), job("broken", kBadRegex)});
    CHECK_FALSE(r.ok());
    REQUIRE(r.refused.size() == 1);
    CHECK(r.refused[0].first == "broken");
    CHECK_THAT(r.message, Contains("previous configuration"));
    CHECK(test::read_file(rig.output) == good_file);
    CHECK(rig.prom->metric("prometheus_config_last_reload_successful") == 1);  // it runs the good file again
    CHECK(test::eventually([&] { return rig.jobs() == std::set<std::string>{"self", "a"}; }));
    REQUIRE(s.apply({job("a"), job("b")}).ok());  // and the rest goes through
    CHECK(test::eventually([&] { return rig.jobs() == std::set<std::string>{"self", "a", "b"}; }));

    // Target groups that came with a refused file are rolled back too — files and the record of
    // them — so the same groups applied again are written again.
    const std::string g1 = R"([{"targets":["127.0.0.1:3"]}])", g2 = R"([{"targets":["127.0.0.1:4"]}])";
    REQUIRE(s.apply({job("a"), job("b"), test::groups_item("pods", g1)}).ok());
    CHECK_FALSE(s.apply({job("a"), job("broken", kBadRegex), test::groups_item("pods", g2)}).ok());
    CHECK(test::read_file(rig.file_sd / "pods.json") == g1);
    REQUIRE(s.apply({job("a"), job("b"), test::groups_item("pods", g2)}).ok());
    CHECK(test::read_file(rig.file_sd / "pods.json") == g2);
}

TEST_CASE("sink_prometheus: Prometheus down is a clear error, and a later apply succeeds", "[sink][sink_prometheus][prometheus]") {
    Rig rig;
    test::Sink s("sink_prometheus", rig.config(), rig.t.path());
    REQUIRE(s.inst);
    REQUIRE(s.apply({job("a")}).ok());
    const std::string good_file = test::read_file(rig.output);
    rig.prom->kill();
    auto r = s.apply({job("a"), job("b")});
    CHECK_FALSE(r.ok());
    CHECK(r.status == HERD_ERR_UNAVAILABLE);
    CHECK_THAT(r.message, Contains(rig.prom->address()));
    CHECK(test::read_file(rig.output) == good_file);  // nothing written while it cannot confirm
    rig.prom->restart();
    REQUIRE(rig.prom->wait_ready());
    REQUIRE(s.apply({job("a"), job("b")}).ok());
    CHECK(test::eventually([&] { return rig.jobs() == std::set<std::string>{"self", "a", "b"}; }));
}

TEST_CASE("sink_prometheus: SIGHUP to the pid in a pid file, confirmed through the metrics", "[sink][sink_prometheus][prometheus]") {
    Rig rig;
    test::write_file(rig.t / "prometheus.pid", std::to_string(rig.prom->pid()) + "\n");
    test::Sink s("sink_prometheus",
                 R"({"base":")" + rig.base.string() + R"(","output":")" + rig.output.string() + R"(","pid_file":")" +
                     (rig.t / "prometheus.pid").string() + R"(","metrics_url":"http://)" + rig.prom->address() +
                     R"(/metrics"})",
                 rig.t.path());
    INFO(s.create_error);
    REQUIRE(s.inst);
    REQUIRE(s.apply({job("a"), job("b")}).ok());
    CHECK(test::eventually([&] { return rig.jobs() == std::set<std::string>{"self", "a", "b"}; }));
    auto r = s.apply({job("broken", kBadRegex)});
    CHECK_FALSE(r.ok());
    CHECK(test::eventually([&] { return rig.jobs() == std::set<std::string>{"self", "a", "b"}; }));
}

TEST_CASE("sink_prometheus: target groups become file_sd files a base job reads, without a reload",
          "[sink][sink_prometheus][prometheus]") {
    Rig rig;
    test::Sink s("sink_prometheus", rig.config(), rig.t.path());
    REQUIRE(s.inst);
    REQUIRE(s.apply({job("a")}).ok());
    const auto t0 = rig.reload_time();
    REQUIRE(s.apply({job("a"), test::groups_item("pods", R"([{"targets":["127.0.0.1:3","127.0.0.1:4"],"labels":{"team":"x"}}])")})
                .ok());
    CHECK(fs::exists(rig.file_sd / "pods.json"));
    CHECK(test::eventually([&] { return rig.jobs().count("herd-targets") == 1; }));
    CHECK(rig.reload_time() == t0);  // no reload for target groups
    auto bad = s.apply({test::groups_item("pods", R"({"targets": "no"})")});
    CHECK_FALSE(bad.ok());
    CHECK(bad.refused.at(0).first == "pods");
    REQUIRE(s.apply({job("a")}).ok());
    CHECK_FALSE(fs::exists(rig.file_sd / "pods.json"));
}

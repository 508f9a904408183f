// Rendering and validation of scrape-config items, without a Prometheus.
#include "render.hpp"

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

using namespace herd;
using namespace herd::sink_prometheus;
using Catch::Matchers::Contains;

namespace {
sdk::SinkItemView item(const char* name, const char* body) { return {name, HERD_SINK_SCRAPE_CONFIG, body}; }
const char* kBase = R"(global:
  scrape_interval: 15s
  external_labels: {replica: "1"}
rule_files: [rules/*.yml]
remote_write:
  - url: http://thanos:19291/api/v1/receive
scrape_configs:
  - job_name: self
    static_configs: [{targets: ["localhost:9090"]}]
)";
}  // namespace

TEST_CASE("render keeps the base as written and appends the items' jobs after its own", "[sink][render]") {
    auto items = parse_items(std::vector<sdk::SinkItemView>{
                                 item("b", "scrape_configs:\n  - job_name: node\n    static_configs: [{targets: [a:9100]}]\n"),
                                 item("a", "name: a\nscrape_configs:\n  - job_name: api\n    metric_relabel_configs:\n"
                                           "      - {source_labels: [x], regex: \"true\", action: keep}\n")},
                             kBase, "base.yml");
    auto out = YAML::Load(render(kBase, items));
    CHECK(out["global"]["scrape_interval"].as<std::string>() == "15s");
    CHECK(out["global"]["external_labels"]["replica"].Tag() == "!");  // "1" stays a string
    CHECK(out["rule_files"][0].as<std::string>() == "rules/*.yml");
    CHECK(out["remote_write"][0]["url"].as<std::string>() == "http://thanos:19291/api/v1/receive");
    REQUIRE(out["scrape_configs"].size() == 3);
    CHECK(out["scrape_configs"][0]["job_name"].as<std::string>() == "self");
    CHECK(out["scrape_configs"][1]["job_name"].as<std::string>() == "node");
    CHECK(out["scrape_configs"][2]["job_name"].as<std::string>() == "api");
    // A quoted "true" must stay a string: Prometheus' regex is a string.
    CHECK(out["scrape_configs"][2]["metric_relabel_configs"][0]["regex"].Tag() == "!");
    CHECK_FALSE(out["name"]);  // the item's own name key does not leak into the file
}

TEST_CASE("items are refused by name: bad YAML, wrong shape, foreign keys, duplicate job names", "[sink][render]") {
    auto refused = [&](std::vector<sdk::SinkItemView> items) {
        try {
            parse_items(items, kBase, "base.yml");
        } catch (const sdk::SinkRefused& e) {
            return e.items();
        }
        return std::vector<std::pair<std::string, std::string>>{};
    };
    auto r = refused({item("bad", "scrape_configs: [unclosed")});
    REQUIRE(r.size() == 1);
    CHECK(r[0].first == "bad");
    CHECK_THAT(r[0].second, Contains("not valid YAML"));
    r = refused({item("list", "- a\n- b\n")});
    CHECK(r.at(0).second == "must be a YAML mapping with scrape_configs");
    r = refused({item("rw", "remote_write: [{url: x}]\nscrape_configs: []\n")});
    CHECK_THAT(r.at(0).second, Contains("\"remote_write\" cannot go into a shared Prometheus"));
    r = refused({item("nojob", "scrape_configs: [{static_configs: []}]\n")});
    CHECK_THAT(r.at(0).second, Contains("has no job_name"));
    r = refused({item("clash", "scrape_configs: [{job_name: self}]\n")});
    CHECK_THAT(r.at(0).second, Contains("already a job of the base file base.yml"));
    r = refused({item("one", "scrape_configs: [{job_name: x}]\n"), item("two", "scrape_configs: [{job_name: x}]\n")});
    REQUIRE(r.size() == 2);  // both sides named
    CHECK(r[0].first == "two");
    CHECK_THAT(r[0].second, Contains("also in item \"one\""));
    CHECK(r[1].first == "one");
    CHECK_THAT(r[1].second, Contains("also in item \"two\""));
}

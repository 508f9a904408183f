// Marathon apps to target groups, label for label as Prometheus' marathon_sd: each port rule.
#include "marathon_targets.hpp"

#include <catch2/catch.hpp>

using namespace herd::sd_marathon;
using nlohmann::json;

TEST_CASE("marathon targets: container network uses containerPort and the task's IP, labels sanitised", "[sd_marathon]") {
    const json app = json::parse(R"({"id": "/grp/prometheus", "labels": {"team": "sre", "a.b-c": "x"}, "requirePorts": false,
      "container": {"docker": {"image": "prom/prometheus:v2.42.0"},
                    "portMappings": [{"containerPort": 9090, "hostPort": 0, "servicePort": 10000, "labels": {"metrics": "/metrics"}},
                                     {"containerPort": 10901, "hostPort": 0, "labels": {}}]},
      "networks": [{"name": "dcos", "mode": "container"}],
      "tasks": [{"id": "prometheus.abc", "host": "10.0.0.5", "ports": [31756, 31757],
                 "ipAddresses": [{"ipAddress": "9.0.0.3", "protocol": "IPv4"}], "state": "TASK_RUNNING"}]})");
    json g = app_group(app);
    CHECK(g["source"] == "/grp/prometheus");
    CHECK(g["labels"] == json::parse(R"({"__meta_marathon_app": "/grp/prometheus", "__meta_marathon_image": "prom/prometheus:v2.42.0",
        "__meta_marathon_app_label_team": "sre", "__meta_marathon_app_label_a_b_c": "x"})"));
    CHECK(g["targets"] == json::parse(R"([
      {"__address__": "9.0.0.3:9090", "__meta_marathon_task": "prometheus.abc", "__meta_marathon_port_index": "0",
       "__meta_marathon_port_mapping_label_metrics": "/metrics"},
      {"__address__": "9.0.0.3:10901", "__meta_marathon_task": "prometheus.abc", "__meta_marathon_port_index": "1"}])"));
}

TEST_CASE("marathon targets: host networking takes hostPort, 0 from the task's ports", "[sd_marathon]") {
    const json app = json::parse(R"({"id": "/app", "container": {"docker": {"image": "img", "portMappings": [{"containerPort": 80, "hostPort": 0}]}},
      "tasks": [{"id": "t1", "host": "10.0.0.5", "ports": [31000]}, {"id": "t2", "host": "10.0.0.6", "ports": [31001]}]})");
    json g = app_group(app);
    REQUIRE(g["targets"].size() == 2);
    CHECK(g["targets"][0]["__address__"] == "10.0.0.5:31000");
    CHECK(g["targets"][1]["__address__"] == "10.0.0.6:31001");
}

TEST_CASE("marathon targets: portDefinitions with and without requirePorts, and bare task ports", "[sd_marathon]") {
    json app = json::parse(R"({"id": "/app", "portDefinitions": [{"port": 10000, "labels": {"name": "web"}}],
      "tasks": [{"id": "t1", "host": "h1", "ports": [31000]}]})");
    json t = app_group(app)["targets"][0];
    CHECK(t["__address__"] == "h1:31000");  // the definition's port is a service port: the task's counts
    CHECK(t["__meta_marathon_port_definition_label_name"] == "web");
    app["requirePorts"] = true;
    CHECK(app_group(app)["targets"][0]["__address__"] == "h1:10000");
    const json bare = json::parse(R"({"id": "/bare", "tasks": [{"id": "t", "host": "h", "ports": [1, 2]}]})");
    json g = app_group(bare);
    REQUIRE(g["targets"].size() == 2);
    CHECK(g["targets"][1] == json::parse(R"({"__address__": "h:2", "__meta_marathon_task": "t", "__meta_marathon_port_index": "1"})"));
    CHECK(g["labels"]["__meta_marathon_image"] == "");
}

TEST_CASE("marathon targets: optional filters on task state and health", "[sd_marathon]") {
    const json app = json::parse(R"({"id": "/app", "tasks": [
      {"id": "ok", "host": "a", "ports": [1], "state": "TASK_RUNNING", "healthCheckResults": [{"alive": true}]},
      {"id": "sick", "host": "b", "ports": [1], "state": "TASK_RUNNING", "healthCheckResults": [{"alive": false}]},
      {"id": "staging", "host": "c", "ports": [1], "state": "TASK_STAGING"}]})");
    CHECK(app_group(app)["targets"].size() == 3);  // Prometheus keeps every task
    CHECK(app_group(app, {true, false})["targets"].size() == 2);
    json healthy = app_group(app, {true, true});
    REQUIRE(healthy["targets"].size() == 1);
    CHECK(healthy["targets"][0]["__meta_marathon_task"] == "ok");
}

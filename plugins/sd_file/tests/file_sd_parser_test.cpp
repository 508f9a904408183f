// sd_file's parsers, strict as Prometheus' file_sd is.
#include "file_sd_parser.hpp"

#include <catch2/catch.hpp>

using namespace herd::sd_file;
using Catch::Matchers::Contains;
using nlohmann::json;

TEST_CASE("file_sd JSON: groups, sources and __meta_filepath", "[sd_file]") {
    auto g = parse_file_sd("/sd/a.json", R"([
        {"targets": ["10.0.0.1:9090", "10.0.0.2:9090"], "labels": {"env": "prod"}},
        {"targets": ["10.0.0.3:9090"]},
        {"targets": null, "labels": null}
    ])");
    REQUIRE(g.size() == 3);
    CHECK(g[0]["source"] == "/sd/a.json:0");
    CHECK(g[0]["targets"] == json::parse(R"([{"__address__":"10.0.0.1:9090"},{"__address__":"10.0.0.2:9090"}])"));
    CHECK(g[0]["labels"] == json::parse(R"({"env":"prod","__meta_filepath":"/sd/a.json"})"));
    CHECK(g[1]["source"] == "/sd/a.json:1");
    CHECK(g[2]["targets"].empty());
    CHECK(parse_file_sd("/sd/empty.json", "[]").empty());
}

TEST_CASE("file_sd YAML parses the same shape", "[sd_file]") {
    auto g = parse_file_sd("/sd/a.yml", R"(
- targets: ['10.0.0.1:9090']
  labels:
    env: prod
- targets:
  - 10.0.0.2:9090
)");
    REQUIRE(g.size() == 2);
    CHECK(g[0]["labels"]["env"] == "prod");
    CHECK(g[1]["targets"][0]["__address__"] == "10.0.0.2:9090");
    CHECK(parse_file_sd("/sd/empty.yaml", "").empty());
}

TEST_CASE("file_sd refuses what Prometheus refuses", "[sd_file]") {
    CHECK_THROWS_WITH(parse_file_sd("/x.json", R"([{"targets":["a:1"],"lables":{}}])"),
                      Contains("/x.json: group 0: unknown field \"lables\""));
    CHECK_THROWS_WITH(parse_file_sd("/x.json", R"([null])"), Contains("nil target group item found"));
    CHECK_THROWS_WITH(parse_file_sd("/x.json", R"({"targets":[]})"), Contains("must be a JSON list"));
    CHECK_THROWS_WITH(parse_file_sd("/x.json", R"([{"targets":[1]}])"), Contains("every target must be a string"));
    CHECK_THROWS_WITH(parse_file_sd("/x.json", R"([{"labels":{"a-b":"x"}}])", NameScheme::legacy), Contains("\"a-b\" is not a valid label name"));
    CHECK_THROWS_WITH(parse_file_sd("/x.json", R"([{"labels":{"":"x"}}])"), Contains("\"\" is not a valid label name"));
    CHECK_THROWS_WITH(parse_file_sd("/x.json", R"([{"labels":{"a":1}}])"), Contains("label \"a\" must be a string"));
    CHECK_THROWS_WITH(parse_file_sd("/x.json", "[{\"labels\":{\"a\":\"\xff\"}}]"), Contains("invalid JSON"));
    CHECK_THROWS_WITH(parse_file_sd("/x.json", R"([{"targets":["a:1"]})"), Contains("invalid JSON"));
    CHECK_THROWS_WITH(parse_file_sd("/x.yml", "- targets: [a:1]\n  extra: 1\n"), Contains("unknown field \"extra\""));
    CHECK_THROWS_WITH(parse_file_sd("/x.yml", "- targets: [a:1\n"), Contains("invalid YAML at line"));
    CHECK_THROWS_WITH(parse_file_sd("/x.yml", "- ~\n"), Contains("nil target group item found"));
    CHECK_THROWS_WITH(parse_file_sd("/x.yml", "targets: []\n"), Contains("must be a YAML list"));
    CHECK_THROWS_WITH(parse_file_sd("/x.txt", "[]"), Contains("unsupported file extension"));
}

TEST_CASE("label values must be UTF-8", "[sd_file]") {
    CHECK_NOTHROW(parse_file_sd("/x.yml", "- labels: {city: \"Zürich\"}\n"));
    CHECK_THROWS_WITH(parse_file_sd("/x.yml", "- labels: {city: \"\xc3\"}\n"), Contains("not valid UTF-8") || Contains("invalid YAML"));
}

TEST_CASE("endpoints files: mpp's format with comments and schemes", "[sd_file]") {
    auto g = parse_endpoints_file("/e.txt", "# replicas\nhttp://10.0.0.1:9090\n\n  10.0.0.2:9090  # second\nhttps://[::1]:9091/\n",
                                  {{"job", "prom"}});
    CHECK(g["source"] == "/e.txt");
    CHECK(g["labels"] == json::parse(R"({"job":"prom"})"));
    CHECK(g["targets"] == json::parse(R"([
        {"__address__":"10.0.0.1:9090","__scheme__":"http"},
        {"__address__":"10.0.0.2:9090"},
        {"__address__":"[::1]:9091","__scheme__":"https"}])"));
    CHECK(parse_endpoints_file("/e.txt", "", {})["targets"].empty());
    CHECK_THROWS_WITH(parse_endpoints_file("/e.txt", "a:1\nnot an endpoint\n", {}), Contains("/e.txt: line 2"));
    CHECK_THROWS_WITH(parse_endpoints_file("/e.txt", "ftp://a:1\n", {}), Contains("scheme must be http or https"));
    CHECK_THROWS_WITH(parse_endpoints_file("/e.txt", "a:99999\n", {}), Contains("line 1"));
}

TEST_CASE("addresses", "[sd_file]") {
    CHECK(valid_address("a:1"));
    CHECK(valid_address("10.0.0.1:9090"));
    CHECK(valid_address("[2001:db8::1]:9090"));
    CHECK_FALSE(valid_address("a"));
    CHECK_FALSE(valid_address(":1"));
    CHECK_FALSE(valid_address("a:"));
    CHECK_FALSE(valid_address("a:b"));
    CHECK_FALSE(valid_address("http://a:1"));
    CHECK_FALSE(valid_address("a:65536"));
}

TEST_CASE("file_sd label names as Prometheus 3.x validates them: UTF-8 by default, legacy on request", "[sd_file]") {
    auto g = parse_file_sd("/x.json", R"([{"targets":["a:1"],"labels":{"service.name":"shop","k8s-namespace":"web","名前":"x"}}])");
    CHECK(g[0]["labels"]["service.name"] == "shop");
    CHECK(g[0]["labels"]["名前"] == "x");
    CHECK_NOTHROW(parse_file_sd("/x.yml", "- targets: [a:1]\n  labels: {service.name: shop}\n"));
    CHECK_THROWS_WITH(parse_file_sd("/x.yml", "- targets: [a:1]\n  labels: {service.name: shop}\n", NameScheme::legacy),
                      Contains("\"service.name\" is not a valid label name") && Contains("legacy"));
    CHECK(valid_label_name("a_b9", NameScheme::legacy));
    CHECK_FALSE(valid_label_name("9a", NameScheme::legacy));
    CHECK(valid_label_name("9a"));
    CHECK_FALSE(valid_label_name(std::string("a\xff", 2)));
}

TEST_CASE("file_sd YAML: a key given twice is an error, as go-yaml's UnmarshalStrict makes it", "[sd_file]") {
    CHECK_THROWS_WITH(parse_file_sd("/x.yml", "- targets: [a:1]\n  targets: [b:2]\n"),
                      Contains("/x.yml: group 0 (line 1): line 2: key \"targets\" already set in map (line 1)"));
    CHECK_THROWS_WITH(parse_file_sd("/x.yml", "- targets: [a:1]\n  labels: {job: a, job: b}\n"),
                      Contains("labels: line 2: key \"job\" already set in map"));
    CHECK_NOTHROW(parse_file_sd("/x.yml", "- targets: [a:1]\n- targets: [a:1]\n"));  // two groups are not two keys
}

TEST_CASE("file_sd file names as Prometheus matches them: lower or upper case extensions", "[sd_file]") {
    CHECK(file_sd_format("a.json") == "json");
    CHECK(file_sd_format("a.YAML") == "yml");
    CHECK(file_sd_format("a.YML") == "yml");
    CHECK(file_sd_format("a.Json").empty());  // Prometheus' pattern: all lower or all upper
    CHECK(file_sd_format(".json").empty());
    CHECK(parse_file_sd("/sd/A.JSON", R"([{"targets":["a:1"]}])").size() == 1);
}

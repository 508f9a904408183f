// Configuration parsing: every bad input names file:line:col and what to do.
#include "config/config.hpp"

#include <catch2/catch.hpp>

using namespace herd;
using Catch::Matchers::Contains;

namespace {
config::LoadResult load(const std::string& text) { return config::load_text(text, "herd.toml", "/etc/herd", "/plugins"); }

std::string errors_of(const config::LoadResult& r) {
    std::string all;
    for (const auto& d : r.errors) all += d.str() + "\n";
    return all;
}
}  // namespace

TEST_CASE("a minimal file gets the defaults", "[config]") {
    auto r = load("");
    REQUIRE(r.config);
    CHECK(r.config->host.admin == "127.0.0.1:9095");
    CHECK(r.config->host.plugin_dir == "/plugins");
    CHECK(r.config->host.data_dir == "/var/lib/herd");
    CHECK(r.config->instances.empty());
}

TEST_CASE("relative paths are relative to the config file's directory", "[config]") {
    auto r = load("[host]\nplugin_dir = \"plugins\"\ndata_dir = \"../var/herd\"\n");
    REQUIRE(r.config);
    CHECK(r.config->host.plugin_dir == "/etc/herd/plugins");
    CHECK(r.config->host.data_dir == "/etc/var/herd");
}

TEST_CASE("malformed TOML points at the line and column", "[config]") {
    auto r = load("[host]\nadmin = \"127.0.0.1:9095\"\nplugin_dir = [\n");
    REQUIRE_FALSE(r.config);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].file == "herd.toml");
    CHECK(r.errors[0].pos.line >= 3);
    CHECK_THAT(r.errors[0].str(), Contains("herd.toml:"));
}

TEST_CASE("unknown keys are errors at the key", "[config]") {
    auto r = load("[host]\nadmin = \"127.0.0.1:1\"\nadmn = \"x\"\n\n[bogus]\nx = 1\n");
    REQUIRE_FALSE(r.config);
    auto all = errors_of(r);
    CHECK_THAT(all, Contains("herd.toml:3:1: unknown key \"admn\" in [host]"));
    CHECK_THAT(all, Contains("herd.toml:5:2: unknown key \"bogus\""));
}

TEST_CASE("wrong value types are errors at the value", "[config]") {
    auto r = load("[host]\nadmin = 9095\nlog_level = \"loud\"\ndrain_timeout = \"10 seconds\"\n");
    REQUIRE_FALSE(r.config);
    auto all = errors_of(r);
    CHECK_THAT(all, Contains("herd.toml:2:9: \"admin\" must be a string, not an integer"));
    CHECK_THAT(all, Contains("herd.toml:3:13: \"log_level\" must be one of"));
    CHECK_THAT(all, Contains("herd.toml:4:17: \"drain_timeout\" is not a positive duration"));
}

TEST_CASE("an admin address without a port is refused", "[config]") {
    auto r = load("[host]\nadmin = \"localhost\"\n");
    REQUIRE_FALSE(r.config);
    CHECK_THAT(errors_of(r), Contains("herd.toml:2:9: \"admin\": \"localhost\" is not host:port"));
}

TEST_CASE("instances: name and plugin are required, names are unique per kind", "[config]") {
    auto r = load(R"([[discovery]]
plugin = "sd_file"

[[discovery]]
name = "a"
plugin = "sd_file"

[[discovery]]
name = "a"
plugin = "sd_file"

[[kv]]
name = "a"
plugin = "kv_sqlite"

[[kv]]
name = "bad name!"
plugin = "kv_sqlite"

[[kv]]
name = "b"
)");
    REQUIRE_FALSE(r.config);
    auto all = errors_of(r);
    CHECK_THAT(all, Contains("herd.toml:1:1: [[discovery]] needs a name"));
    CHECK_THAT(all, Contains("herd.toml:9:8: duplicate discovery name \"a\" (first defined at line 4)"));
    CHECK_THAT(all, Contains("herd.toml:17:8: name \"bad name!\" may only contain"));
    CHECK_THAT(all, Contains("[[kv]] \"b\" needs a plugin"));
    CHECK_THAT(all, !Contains("duplicate kv name"));  // kv "a" and discovery "a" may share a name
}

TEST_CASE("plugin keys go to the plugin as JSON, with their positions kept", "[config]") {
    auto r = load(R"([[discovery]]
name = "replicas"
plugin = "sd_file"
targets = ["a:1", "b:2"]
refresh_interval = "30s"
nested = { ports = [1, 70000], on = true }
)");
    REQUIRE(r.config);
    const auto& i = r.config->instances.at(0);
    CHECK(i.kind == HERD_KIND_DISCOVERY);
    CHECK(i.settings == nlohmann::json::parse(
                            R"({"targets":["a:1","b:2"],"refresh_interval":"30s","nested":{"ports":[1,70000],"on":true}})"));
    CHECK(i.position_of("targets").line == 4);
    CHECK(i.position_of("targets").column == 1);
    CHECK(i.position_of("targets[1]").column == 19);
    CHECK(i.position_of("nested.ports[1]").line == 6);
    CHECK(i.position_of("nested.ports[1]").column == 24);
    CHECK(i.position_of("no_such_key").line == 1);  // the table itself
}

TEST_CASE("a proxy naming a discovery that does not exist is an error at the reference", "[config]") {
    auto r = load(R"([[discovery]]
name = "replicas"
plugin = "sd_file"

[[proxy]]
name = "query"
listen = "127.0.0.1:9090"
backends = ["replicas", "nope"]
strategy = { plugin = "selector", name = "random" }
)");
    REQUIRE_FALSE(r.config);
    CHECK_THAT(errors_of(r),
               Contains("herd.toml:8:25: proxy \"query\": backends[1] names no [[discovery]] \"nope\" (defined: replicas)"));
}

TEST_CASE("a proxy with unknown keys and wrong shapes is refused", "[config]") {
    auto r = load(R"([[proxy]]
name = "query"
listen = "nowhere"
backends = "replicas"
strategy = "random"
retries = 99
colour = "blue"
)");
    REQUIRE_FALSE(r.config);
    auto all = errors_of(r);
    CHECK_THAT(all, Contains("herd.toml:3:10: \"listen\": \"nowhere\" is not host:port"));
    CHECK_THAT(all, Contains("herd.toml:4:12: \"backends\" must be an array"));
    CHECK_THAT(all, Contains("herd.toml:5:12: \"strategy\" must be a table"));
    CHECK_THAT(all, Contains("herd.toml:6:11: \"retries\" must be between 0 and 10"));
    CHECK_THAT(all, Contains("herd.toml:7:1: unknown key \"colour\" in [[proxy]]"));
}

TEST_CASE("fingerprints change with any plugin setting", "[config]") {
    auto a = load("[[discovery]]\nname = \"x\"\nplugin = \"sd_file\"\ntargets = [\"a:1\"]\n");
    auto b = load("[[discovery]]\nname = \"x\"\nplugin = \"sd_file\"\ntargets = [\"a:2\"]\n");
    auto c = load("# a comment moves nothing\n[[discovery]]\nname = \"x\"\nplugin = \"sd_file\"\ntargets = [\"a:1\"]\n");
    REQUIRE((a.config && b.config && c.config));
    CHECK(a.config->instances[0].fingerprint() != b.config->instances[0].fingerprint());
    CHECK(a.config->instances[0].fingerprint() == c.config->instances[0].fingerprint());
}

TEST_CASE("a missing file is a clear error", "[config]") {
    auto r = config::load_file("/nonexistent/herd.toml", "/plugins");
    REQUIRE_FALSE(r.config);
    CHECK_THAT(r.errors.at(0).str(), Contains("/nonexistent/herd.toml: cannot read the configuration file"));
}

TEST_CASE("[[sink]] instances: named like [[kv]], referenced by one pipeline only", "[config][sink]") {
    auto ok = load(R"([[sink]]
name = "local"
plugin = "sink_files"
dir = "conf.d"
)");
    REQUIRE(ok.config);
    const auto* s = ok.config->find(HERD_KIND_SINK, "local");
    REQUIRE(s);
    CHECK(s->section == "sink");
    CHECK(s->settings["dir"] == "conf.d");

    auto dup = load(R"([[sink]]
name = "local"
plugin = "sink_files"

[[sink]]
name = "local"
plugin = "sink_prometheus"
)");
    REQUIRE_FALSE(dup.config);
    CHECK_THAT(errors_of(dup), Contains("herd.toml:6:8") && Contains("duplicate"));

    // A sink holds exactly one pipeline's set: two pipelines naming it is an error at the second.
    auto shared = load(R"([[sink]]
name = "local"
plugin = "sink_files"

[[sharding]]
name = "scrape"
sink = "local"

[[dispatch]]
name = "checks"
sink = "local"

[[dispatch]]
name = "other"
sink = "nope"
)");
    REQUIRE_FALSE(shared.config);
    CHECK_THAT(errors_of(shared), Contains("herd.toml:11:1: dispatch \"checks\": sink \"local\" already belongs to "
                                           "sharding \"scrape\" (line 7)"));
    CHECK_THAT(errors_of(shared), Contains("herd.toml:15:1: dispatch \"other\": sink names no [[sink]] \"nope\" "
                                           "(defined: local)"));
}

// `herd check`: validates without starting anything; every problem as file:line:col.
#include "support.hpp"

#include <catch2/catch.hpp>

using namespace herd;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {
test::RunResult check(const test::TempDir& dir, const std::string& toml) {
    test::write_file(dir / "herd.toml", toml);
    return test::run({test::herd_binary().string(), "check", "-c", (dir / "herd.toml").string()});
}
std::string fixtures_host() { return "[host]\nplugin_dir = \"" + test::fixture_dir().string() + "\"\n"; }
}  // namespace

TEST_CASE("check accepts a good configuration and starts nothing", "[check]") {
    test::TempDir dir;
    auto r = check(dir, "[host]\nadmin = \"127.0.0.1:1\"\ndata_dir = \"" + (dir / "data").string() +
                            "\"\n[[discovery]]\nname = \"r\"\nplugin = \"sd_file\"\ntargets = [\"a:1\"]\n");
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains("OK (0 kv, 1 discovery"));
    CHECK_FALSE(fs::exists(dir / "data"));  // nothing written to the real data_dir
}

TEST_CASE("check reports malformed TOML with its position", "[check]") {
    test::TempDir dir;
    auto r = check(dir, "[host]\nadmin = \"127.0.0.1:1\n");
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains((dir / "herd.toml").string() + ":2:"));
}

TEST_CASE("check names the missing plugin at its key", "[check]") {
    test::TempDir dir;
    auto r = check(dir, "[[discovery]]\nname = \"r\"\nplugin = \"sd_nope\"\n");
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("herd.toml:3:1: discovery \"r\": no plugin named \"sd_nope\"") &&
                          Contains("(loaded: ") && Contains("sd_file"));
}

TEST_CASE("check passes the plugin's own validation, at the key the plugin blames", "[check]") {
    test::TempDir dir;
    auto r = check(dir, "[[discovery]]\nname = \"r\"\nplugin = \"sd_file\"\ntargets = [\"a:1\", \"http://b:2\"]\n"
                        "[[discovery]]\nname = \"s\"\nplugin = \"sd_file\"\ntarget = [\"a:1\"]\n");
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("herd.toml:4:19: discovery \"r\": targets[1]: \"http://b:2\" is not host:port"));
    CHECK_THAT(r.err, Contains("herd.toml:8:1: discovery \"s\": unknown key \"target\""));
}

TEST_CASE("check points into nested plugin keys: Prometheus-style selectors and attach_metadata", "[check]") {
    test::TempDir dir;
    auto r = check(dir, "[[discovery]]\nname = \"k\"\nplugin = \"sd_k8s\"\napi_server = \"http://127.0.0.1:1\"\nrole = \"pod\"\n"
                        "selectors = [{ role = \"pod\", label = \"app=x\" },\n             { role = \"service\", label = \"a=b\" }]\n"
                        "[[discovery]]\nname = \"m\"\nplugin = \"sd_k8s\"\napi_server = \"http://127.0.0.1:1\"\nrole = \"pod\"\n"
                        "attach_metadata = { node = true, nodes = true }\n");
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("herd.toml:7:16: discovery \"k\": selectors[1].role: pod role supports only pod, node selectors"));
    CHECK_THAT(r.err, Contains("herd.toml:13:34: discovery \"m\": attach_metadata.nodes: unknown key \"nodes\""));
}

TEST_CASE("check survives plugins that throw or crash in create", "[check][isolation]") {
    test::TempDir dir;
    auto r = check(dir, fixtures_host() +
                            "[[discovery]]\nname = \"t\"\nplugin = \"throwing_create\"\nfail = \"config\"\n"
                            "nested = { ports = [1, 70000] }\n"
                            "[[discovery]]\nname = \"c\"\nplugin = \"crash_create\"\n"
                            "[[discovery]]\nname = \"e\"\nplugin = \"throwing_create\"\n");
    CHECK(r.code == 1);  // an exit, not a crash
    CHECK_THAT(r.err, Contains("herd.toml:7:24: discovery \"t\": nested.ports[1]: port 70000 is out of range"));
    CHECK_THAT(r.err, Contains("discovery \"c\": the plugin crashed in create") || Contains("discovery \"c\": the create probe gave no answer"));
    CHECK_THAT(r.err, Contains("discovery \"e\": unexpected exception: the frobnicator is on fire"));
}

TEST_CASE("check reports a plugin that provides the wrong kind or was refused", "[check]") {
    test::TempDir dir;
    auto r = check(dir, fixtures_host() + "[[kv]]\nname = \"k\"\nplugin = \"old_minor\"\n"
                                          "[[discovery]]\nname = \"d\"\nplugin = \"future_minor\"\n");
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("kv \"k\": plugin \"old_minor\" provides no kv (it provides: discovery)"));
    CHECK_THAT(r.err, Contains("discovery \"d\": plugin \"future_minor\" was refused") && Contains("upgrade herd"));
    // The same for a pipeline's strategy.
    auto p = check(dir, fixtures_host() + "[[discovery]]\nname = \"d\"\nplugin = \"old_minor\"\n"
                                          "[[proxy]]\nname = \"q\"\nlisten = \"127.0.0.1:0\"\nbackends = [\"d\"]\n"
                                          "strategy = { plugin = \"future_minor\", name = \"random\" }\n");
    CHECK(p.code == 1);
    CHECK_THAT(p.err, Contains("proxy \"q\": strategy: plugin \"future_minor\" was refused") && Contains("upgrade herd"));
}

TEST_CASE("check reports pipelines naming missing instances and plugins", "[check]") {
    test::TempDir dir;
    auto r = check(dir, R"([[discovery]]
name = "replicas"
plugin = "sd_file"
targets = ["a:1"]

[[proxy]]
name = "query"
listen = "127.0.0.1:9090"
backends = ["replicas", "missing"]
strategy = { plugin = "selector", name = "random" }
affinity = [{ plugin = "sd_file", name = "cookie" }]
)");
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("herd.toml:9:25: proxy \"query\": backends[1] names no [[discovery]] \"missing\""));
    // The reference errors come with the structural ones, so one run shows everything to fix.
    r = check(dir, R"([[discovery]]
name = "replicas"
plugin = "sd_file"
targets = ["a:1"]

[[proxy]]
name = "query"
listen = "127.0.0.1:9090"
backends = ["replicas"]
strategy = { plugin = "selector", name = "random" }
affinity = [{ plugin = "sd_file", name = "cookie" }]
)");
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("herd.toml:11:15: proxy \"query\": affinity[0]: plugin \"sd_file\" provides no affinity"));
    CHECK_THAT(r.err, !Contains("strategy"));  // selector/random exists
}

TEST_CASE("check reports a strategy's own bad keys at their position", "[check]") {
    test::TempDir dir;
    auto r = check(dir, R"([[discovery]]
name = "replicas"
plugin = "sd_file"
targets = ["a:1"]

[[proxy]]
name = "query"
listen = "127.0.0.1:9090"
backends = ["replicas"]
strategy = { plugin = "selector", name = "minimum-history", histroy = "1h" }
affinity = [{ plugin = "affinity", name = "sourceip", trusted_proxies = ["10.0.0.0/8", "nope"] }]
)");
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("herd.toml:10:61: proxy \"query.strategy\": unknown key \"histroy\""));
    CHECK_THAT(r.err, Contains("herd.toml:11:88: proxy \"query.affinity[0]\": trusted_proxies[1]: \"nope\" is not an address or CIDR range"));
}

TEST_CASE("check validates dispatch and sharding tables", "[check]") {
    test::TempDir dir;
    auto r = check(dir, R"([[discovery]]
name = "svc"
plugin = "sd_file"
files = ["x.json"]

[[dispatch]]
name = "checks"
role = ["node", "boss"]
poll_interval = "10s"
node_expiration = "15s"
rebalance_min_improvement = "150%"
checks = [{ discovery = "svc", check_name = "http_check", instances = [{ url = "http://%%host%%:%%port%%/", name = "%%hostname%%" }] }]
)");
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("herd.toml:8:8: \"role\": unknown role \"boss\""));
    CHECK_THAT(r.err, Contains("herd.toml:6:1: [[dispatch]] \"checks\" has role \"node\" and needs sink = "));
    CHECK_THAT(r.err, Contains("herd.toml:10:1: \"node_expiration\" must be at least twice \"poll_interval\""));
    CHECK_THAT(r.err, Contains("herd.toml:11:29: \"rebalance_min_improvement\" must be a fraction"));
    // With the table's structure right, the template's variables are checked.
    auto t = check(dir, R"([[discovery]]
name = "svc"
plugin = "sd_file"
files = ["x.json"]

[[dispatch]]
name = "checks"
checks = [{ discovery = "svc", check_name = "http_check", instances = [{ url = "http://%%host%%:%%port%%/", name = "%%hostname%%" }] }]
)");
    CHECK(t.code == 1);
    CHECK_THAT(t.err, Contains("dispatch \"checks\": checks[0].instances: unknown template variable %%hostname%% (known: %%host%%, %%port%%)"));
    // A [[sharding]] is checked for what it needs.
    auto s = check(dir, "[[sharding]]\nname = \"scrape\"\nheartbeat = \"10s\"\nheartbeat_timeout = \"15s\"\n");
    CHECK(s.code == 1);
    CHECK_THAT(s.err, Contains("herd.toml:1:1: [[sharding]] \"scrape\" needs sink = ") &&
                          Contains("herd.toml:4:1: \"heartbeat_timeout\" must be at least twice \"heartbeat\""));
}

TEST_CASE("the create probe's timeout is [host] create_probe_timeout", "[check][isolation]") {
    test::TempDir dir;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = check(dir, fixtures_host() + "create_probe_timeout = \"1s\"\n"
                                          "[[discovery]]\nname = \"h\"\nplugin = \"throwing_create\"\nfail = \"hang\"\n");
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("discovery \"h\": create did not return within 1000 ms ([host] create_probe_timeout)"));
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(25));  // not the 30 s default
    auto bad = check(dir, "[host]\nload_probe_timeout = \"0s\"\n");
    CHECK_THAT(bad.err, Contains("\"load_probe_timeout\" is not a positive duration"));
}

TEST_CASE("plugin_dir may be a search path", "[check]") {
    test::TempDir dir;
    const std::string host = "[host]\nplugin_dir = [\"" + test::fixture_dir().string() + "\", \"" + test::plugin_dir().string() + "\"]\n";
    // One instance from each directory; a name in both is the first directory's.
    auto r = check(dir, host + "[[discovery]]\nname = \"a\"\nplugin = \"old_minor\"\n[[discovery]]\nname = \"b\"\nplugin = \"sd_file\"\n"
                               "targets = [\"h:1\"]\n");
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains("plugins from " + test::fixture_dir().string() + ", " + test::plugin_dir().string()));
    CHECK_THAT(r.err, Contains("selector.so refused: plugin name \"selector\" is taken from an earlier plugin_dir"));
    auto nowhere = check(dir, "[host]\nplugin_dir = [\"" + test::plugin_dir().string() + "\", \"" + (dir / "nowhere").string() + "\"]\n");
    CHECK(nowhere.code == 1);
    CHECK_THAT(nowhere.err, Contains("plugin_dir " + (dir / "nowhere").string() + " is not a directory"));
    auto missing = check(dir, host + "[[discovery]]\nname = \"c\"\nplugin = \"sd_nope\"\n");
    CHECK_THAT(missing.err, Contains("no plugin named \"sd_nope\" in " + test::fixture_dir().string() + ", " + test::plugin_dir().string()));
}

TEST_CASE("global flags work after the subcommand too", "[check]") {
    test::TempDir dir;
    test::write_file(dir / "herd.toml", "[host]\nadmin = \"127.0.0.1:0\"\n");
    auto after = test::run({test::herd_binary().string(), "check", "-c", (dir / "herd.toml").string(), "--log-level", "debug"});
    CHECK(after.code == 0);
    auto bad = test::run({test::herd_binary().string(), "check", "-c", (dir / "herd.toml").string(), "--log-level", "loud"});
    CHECK(bad.code != 0);
    CHECK_THAT(bad.err, Contains("loud"));
}

TEST_CASE("check on a file that does not exist", "[check]") {
    auto r = test::run({test::herd_binary().string(), "check", "-c", "/nonexistent/herd.toml"});
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("/nonexistent/herd.toml: cannot read the configuration file"));
}

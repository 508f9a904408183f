// `herd sink`, `herd check` and /status with [[sink]] instances.
#include "herd_fixture.hpp"
#include "support.hpp"

#include <herd/plugin_api.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

using namespace herd;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {
struct SinkCli {
    test::TempDir dir;
    SinkCli() {
        test::write_file(dir / "herd.toml", "[host]\ndata_dir = \"data\"\n\n[[sink]]\nname = \"out\"\nplugin = \"sink_files\"\n"
                                            "dir = \"agent\"\n");
        fs::create_directories(dir / "items");
    }
    test::RunResult operator()(std::vector<std::string> rest) const {
        std::vector<std::string> a{test::herd_binary().string(), "sink", "-c", (dir / "herd.toml").string()};
        a.insert(a.end(), rest.begin(), rest.end());
        return test::run(a);
    }
    std::string item(const std::string& file, const std::string& body) const {
        test::write_file(dir / "items" / file, body);
        return (dir / "items" / file).string();
    }
};
}  // namespace

TEST_CASE("herd sink apply and show: exactly the given items, by file name and extension", "[sink-cli]") {
    SinkCli cli;
    auto a = cli({"apply", cli.item("job-a.yml", "scrape_configs: []\n"), cli.item("pods.json", "[]")});
    INFO(a.err);
    REQUIRE(a.code == 0);
    CHECK_THAT(a.out, Contains("sink \"out\": holds 2 item(s)"));
    CHECK(test::read_file(cli.dir / "agent/job-a.yml") == "scrape_configs: []\n");
    CHECK(test::read_file(cli.dir / "agent/pods.json") == "[]");

    auto show = cli({"--sink", "out", "show"});
    REQUIRE(show.code == 0);
    std::map<std::string, std::string> held;
    std::istringstream lines(show.out);
    for (std::string l; std::getline(lines, l);) {
        auto j = nlohmann::json::parse(l);
        held[j["name"]] = j["media_type"];
    }
    CHECK(held == std::map<std::string, std::string>{{"job-a", HERD_SINK_SCRAPE_CONFIG}, {"pods", HERD_SINK_TARGET_GROUPS}});

    // No item file: the empty set.
    REQUIRE(cli({"apply"}).code == 0);
    CHECK_FALSE(fs::exists(cli.dir / "agent/job-a.yml"));
    CHECK(cli({"show"}).out.empty());

    // Bad input: a file that is not an item, a name the rules refuse, a sink that does not exist.
    auto bad = cli({"apply", cli.item("notes.txt", "x")});
    CHECK(bad.code == 2);
    CHECK_THAT(bad.err, Contains(".yml, .yaml (a scrape config) or .json"));
    auto name = cli({"apply", cli.item("a b.yml", "x")});
    CHECK(name.code == 2);
    CHECK_THAT(name.err, Contains("only letters"));
    auto none = cli({"--sink", "nope", "show"});
    CHECK(none.code == 1);
    CHECK_THAT(none.err, Contains("no [[sink]] named \"nope\" (defined: out)"));
    auto load = cli({"show", "--load"});
    CHECK(load.code == 1);
    CHECK_THAT(load.err, Contains("does not report load"));
}

TEST_CASE("herd check validates [[sink]] keys at their line, and /status lists sinks", "[sink-cli]") {
    test::TempDir dir;
    test::write_file(dir / "base.yml", "scrape_configs: []\n");
    test::write_file(dir / "bad.toml", "[host]\ndata_dir = \"data\"\n\n[[sink]]\nname = \"p\"\nplugin = \"sink_prometheus\"\n"
                                       "base = \"base.yml\"\noutput = \"prometheus.yml\"\nreload_url = \"ftp://x\"\n");
    auto r = test::run({test::herd_binary().string(), "check", "-c", (dir / "bad.toml").string()});
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("bad.toml:9:1: sink \"p\": reload_url: must be") && Contains("http://"));

    test::HerdRun herd("[[sink]]\nname = \"out\"\nplugin = \"sink_files\"\ndir = \"" + (dir / "agent").string() + "\"\n");
    REQUIRE(herd.wait_ready());
    auto status = herd.get("/status").body;
    CHECK_THAT(status, Contains("<td>sink</td><td><b>out</b></td><td>sink_files</td>"));
    CHECK(herd.metric("herd_instance_up{kind=\"sink\",name=\"out\",plugin=\"sink_files\"}") == 1);
}

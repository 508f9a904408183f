// sink_files through the ABI, as herd drives it: exact directory contents, foreign files never
// touched, refusals that name the item, reloads with restore, and crash safety under SIGKILL.
#include "raw_http.hpp"
#include "sink_fixture.hpp"

#include <csignal>
#include <random>
#include <thread>

using namespace herd;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {
std::string config_for(const fs::path& dir, const std::string& extra = "") {
    return R"({"dir":")" + dir.string() + "\"" + extra + "}";
}
// The files the sink wrote (its manifest and anyone else's files left out).
std::map<std::string, std::string> visible(const fs::path& dir) {
    auto all = test::files_in(dir);
    all.erase(".herd-sink-manifest");
    return all;
}
}  // namespace

TEST_CASE("sink_files holds exactly the set applied, and never touches anyone else's files", "[sink][sink_files]") {
    test::TempDir t;
    const fs::path dir = t / "conf.d";
    fs::create_directories(dir);
    test::write_file(dir / "mine.yml", "a user's own file\n");
    test::write_file(dir / "notes.txt", "also the user's\n");
    test::Sink s("sink_files", config_for(dir), t.path());
    REQUIRE(s.inst);

    REQUIRE(s.apply({test::scrape_item("job-a", "scrape_configs: []\n"), test::groups_item("pods", "[]"),
                     {"postgres.d/herd-db1", HERD_SINK_CHECK_CONFIG, "instances: [{}]\n"}})
                .ok());
    CHECK(visible(dir) == std::map<std::string, std::string>{{"job-a.yml", "scrape_configs: []\n"},
                                                             {"mine.yml", "a user's own file\n"},
                                                             {"notes.txt", "also the user's\n"},
                                                             {"pods.json", "[]"},
                                                             {"postgres.d/herd-db1.yaml", "instances: [{}]\n"}});
    CHECK(s.held() == std::map<std::string, std::string>{{"job-a", "scrape_configs: []\n"},
                                                         {"pods", "[]"},
                                                         {"postgres.d/herd-db1", "instances: [{}]\n"}});

    // A set without two of them: they are gone; the user's files stay.
    REQUIRE(s.apply({test::scrape_item("job-a", "scrape_configs: [{job_name: a}]\n")}).ok());
    CHECK(visible(dir) == std::map<std::string, std::string>{{"job-a.yml", "scrape_configs: [{job_name: a}]\n"},
                                                             {"mine.yml", "a user's own file\n"},
                                                             {"notes.txt", "also the user's\n"}});

    // Idempotent: the same set again writes nothing (the file is not even replaced).
    const auto inode = fs::status(dir / "job-a.yml").permissions();
    const auto before = fs::last_write_time(dir / "job-a.yml");
    REQUIRE(s.apply({test::scrape_item("job-a", "scrape_configs: [{job_name: a}]\n")}).ok());
    CHECK(fs::last_write_time(dir / "job-a.yml") == before);
    (void)inode;

    // A new instance over the same directory knows what it wrote (the manifest).
    test::Sink again("sink_files", config_for(dir), t.path());
    CHECK(again.held() == std::map<std::string, std::string>{{"job-a", "scrape_configs: [{job_name: a}]\n"}});
    REQUIRE(again.apply({}).ok());
    CHECK(visible(dir) == std::map<std::string, std::string>{{"mine.yml", "a user's own file\n"},
                                                             {"notes.txt", "also the user's\n"}});
}

TEST_CASE("sink_files refuses bad items by name and changes nothing", "[sink][sink_files]") {
    test::TempDir t;
    const fs::path dir = t / "out";
    fs::create_directories(dir);
    test::write_file(dir / "theirs.yml", "keep me\n");
    test::Sink s("sink_files", config_for(dir), t.path());
    REQUIRE(s.apply({test::scrape_item("ok", "a: 1\n")}).ok());
    const auto good = test::files_in(dir);

    struct Case {
        std::vector<sink::Item> items;
        std::string refused, why;
    };
    const std::vector<Case> cases = {
        {{test::scrape_item("../escape", "x")}, "../escape", "path segment"},
        {{test::scrape_item("a b", "x")}, "a b", "only letters"},
        {{test::scrape_item("theirs", "x")}, "theirs", "was not written by this sink"},
        {{test::scrape_item("dup", "x"), test::scrape_item("dup.yml", "y")}, "dup.yml", "same file"},
        {{test::scrape_item(".hidden", "x")}, ".hidden", "reserved"},
    };
    for (const auto& c : cases) {
        INFO(c.refused);
        auto r = s.apply(c.items);
        REQUIRE_FALSE(r.ok());
        REQUIRE(r.refused.size() == 1);
        CHECK(r.refused[0].first == c.refused);
        CHECK_THAT(r.refused[0].second, Contains(c.why));
        CHECK_THAT(r.message, Contains(c.refused));
        CHECK(test::files_in(dir) == good);
    }
    // A missing dir is a configuration error that names the key.
    test::Sink bad("sink_files", "{}", t.path());
    CHECK_FALSE(bad.inst);
    CHECK_THAT(bad.create_error, Contains("dir"));
}

TEST_CASE("sink_files reloads its agent, and puts the old files back when the agent refuses", "[sink][sink_files]") {
    std::atomic<bool> refuse{false};
    test::ScriptedBackend agent([&](const test::ScriptedBackend::Request& r) -> test::ScriptedBackend::Reply {
        if (r.target != "/-/reload") return {};
        if (refuse) return {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 17\r\n\r\nbad config: nope\n"};
        return {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};
    });
    test::TempDir t;
    const fs::path dir = t / "out";
    test::Sink s("sink_files", config_for(dir, R"(,"reload_url":"http://)" + agent.address() + R"(/-/reload")"), t.path());
    REQUIRE(s.inst);
    REQUIRE(s.apply({test::scrape_item("a", "v1\n")}).ok());
    CHECK(agent.requests().size() == 1);
    REQUIRE(s.apply({test::scrape_item("a", "v1\n")}).ok());
    CHECK(agent.requests().size() == 1);  // nothing changed: no reload

    refuse = true;
    auto r = s.apply({test::scrape_item("a", "v2\n"), test::scrape_item("b", "new\n")});
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.message, Contains("bad config: nope") && Contains("previous files are back"));
    CHECK(visible(dir) == std::map<std::string, std::string>{{"a.yml", "v1\n"}});
    CHECK(s.held() == std::map<std::string, std::string>{{"a", "v1\n"}});
    CHECK(agent.requests().size() == 3);  // the refused reload, then the reload of the old files

    // The agent down: a clear error, and a later apply succeeds.
    refuse = false;
    test::Sink down("sink_files", config_for(t / "down", R"(,"reload_url":"http://127.0.0.1:1/-/reload")"), t.path());
    auto d = down.apply({test::scrape_item("a", "x")});
    CHECK_FALSE(d.ok());
    CHECK_THAT(d.message, Contains("127.0.0.1:1"));
}

TEST_CASE("sink_files: a SIGKILL mid-apply leaves every file old or new, never torn", "[sink][sink_files][crash]") {
    test::TempDir t;
    const fs::path dir = t / "out";
    fs::create_directories(dir);
    constexpr int kItems = 40;
    auto body_of = [](int i, char g) { return "# item " + std::to_string(i) + "\n" + std::string(20000, g) + "\n# end\n"; };
    std::mt19937 rng(std::random_device{}());
    int generations_seen = 0;
    for (int round = 0; round < 8; ++round) {
        test::Process p({SINK_FILES_CRASHER, (test::plugin_dir() / "sink_files.so").string(), dir.string(),
                         std::to_string(kItems)},
                        t.path(), "crasher" + std::to_string(round));
        REQUIRE(test::eventually([&] { return p.out().find("applied") != std::string::npos || !p.running(); }));
        REQUIRE(p.running());
        // Let it get into the middle of some apply: a random moment within its loop.
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(1, 60)(rng)));
        p.signal(SIGKILL);
        p.wait(std::chrono::seconds(5));
        for (int i = 0; i < kItems; ++i) {
            const auto file = dir / ("item-" + std::to_string(i) + ".yml");
            REQUIRE(fs::exists(file));
            const auto content = test::read_file(file);
            INFO("round " << round << ", item " << i);
            CHECK((content == body_of(i, 'A') || content == body_of(i, 'B')));
            generations_seen |= content == body_of(i, 'B') ? 2 : 1;
        }
    }
    CHECK(generations_seen == 3);  // the kills did land in different generations
    // The next apply cleans up what the kills left (temporaries) and holds exactly its set.
    test::Sink s("sink_files", config_for(dir), t.path());
    REQUIRE(s.apply({test::scrape_item("item-0", "final\n")}).ok());
    CHECK(visible(dir) == std::map<std::string, std::string>{{"item-0.yml", "final\n"}});
}

// `herd run` end to end: admin endpoints, discovery from files, reload, signals, failures.
#include "herd_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace herd;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {
const char* kDiscovery = R"([[discovery]]
name = "replicas"
plugin = "sd_file"
targets = ["127.0.0.1:9090"]
files = ["sd/*.json"]
)";
}

TEST_CASE("run serves the admin endpoints", "[run]") {
    test::HerdRun herd(kDiscovery);
    REQUIRE(herd.wait_ready());
    CHECK(herd.get("/-/healthy").body == "herd is Healthy.\n");
    CHECK(herd.get("/-/ready").body == "herd is Ready.\n");

    auto m = herd.get("/metrics");
    CHECK(m.status == 200);
    CHECK_THAT(m.headers["content-type"], Contains("text/plain; version=0.0.4"));
    CHECK_THAT(m.body, Contains("herd_build_info{version=\"0.1.0\",abi=\"1.2\""));
    CHECK_THAT(m.body, Contains("herd_plugin_info{file=\"" + (test::plugin_dir() / "sd_file.so").string() +
                                "\",name=\"sd_file\",kind=\"discovery\",version=\"0.1.0\",abi=\"1.2\"} 1"));
    CHECK_THAT(m.body, Contains("process_resident_memory_bytes"));
    CHECK(test::metric(m.body, "herd_ready") == 1);
    CHECK(test::metric(m.body, "herd_instance_up{kind=\"discovery\",name=\"replicas\",plugin=\"sd_file\"}") == 1);

    auto s = herd.get("/status");
    CHECK(s.status == 200);
    CHECK_THAT(s.headers["content-type"], Contains("text/html"));
    CHECK_THAT(s.body, Contains("<b>replicas</b>") && Contains("healthy") && Contains("uptime"));

    CHECK(herd.get("/nope").status == 404);
}

TEST_CASE("run follows discovery files and shows a broken one on /status and /metrics", "[run]") {
    test::HerdRun herd(kDiscovery);
    REQUIRE(herd.wait_ready());
    const std::string targets = "herd_discovery_targets{discovery=\"replicas\"}";
    CHECK(herd.metric(targets) == 1);
    test::write_file_atomic(herd.dir() / "sd/a.json", R"([{"targets":["127.0.0.1:9091","127.0.0.1:9092"]}])");
    CHECK(test::eventually([&] { return herd.metric(targets) == 3; }));

    test::write_file(herd.dir() / "sd/a.json", R"([{"targets":["127.0.0.1:9093"]}, null])");
    CHECK(test::eventually([&] { return herd.metric("herd_discovery_healthy{discovery=\"replicas\"}") == 0; }));
    CHECK(herd.metric(targets) == 3);  // last good targets kept
    CHECK_THAT(herd.get("/status").body, Contains("nil target group item found"));
    CHECK(herd.metric("herd_sd_file_read_errors_total{discovery=\"replicas\"}") >= 1);
}

TEST_CASE("SIGHUP reloads: unchanged instances keep running, a bad file is refused", "[run][reload]") {
    test::HerdRun herd(kDiscovery);
    REQUIRE(herd.wait_ready());

    herd.write_config(std::string(kDiscovery) + "[[discovery]]\nname = \"more\"\nplugin = \"sd_file\"\ntargets = [\"b:1\"]\n");
    herd.process().signal(SIGHUP);
    REQUIRE(test::eventually([&] { return herd.metric("herd_discovery_targets{discovery=\"more\"}") == 1; }));
    CHECK(herd.metric("herd_config_last_reload_successful") == 1);
    CHECK(test::eventually([&] { return herd.process().err().find("reload applied: 1 kept, 1 added or changed, 0 removed") != std::string::npos; }));

    // A broken file: refused, and everything keeps running as it was.
    herd.write_config("[[discovery]]\nname = \"x\"\nplugin = \"sd_file\"\ntargest = []\n");
    herd.process().signal(SIGHUP);
    REQUIRE(test::eventually([&] { return herd.metric("herd_config_last_reload_successful") == 0; }));
    CHECK(herd.metric("herd_config_reloads_total{result=\"failure\"}") == 1);
    CHECK(herd.metric("herd_discovery_targets{discovery=\"more\"}") == 1);
    CHECK(herd.get("/-/ready").status == 200);
    CHECK_THAT(herd.get("/status").body, Contains("refused") && Contains("unknown key"));
    CHECK_THAT(herd.process().err(), Contains("herd.toml:8:1: discovery \"x\": unknown key \"targest\""));

    // Removing an instance stops it.
    herd.write_config(kDiscovery);
    herd.process().signal(SIGHUP);
    CHECK(test::eventually([&] { return !herd.metric("herd_discovery_targets{discovery=\"more\"}"); }));
    CHECK(herd.metric("herd_discovery_targets{discovery=\"replicas\"}") == 1);
}

TEST_CASE("SIGTERM drains and exits 0", "[run]") {
    test::HerdRun herd(kDiscovery);
    REQUIRE(herd.wait_ready());
    herd.process().signal(SIGTERM);
    auto code = herd.process().wait(std::chrono::seconds(15));
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK_THAT(herd.process().err(), Contains("SIGTERM: draining") && Contains("herd stopped"));
    CHECK(herd.get("/-/healthy").status == 0);  // no longer listening
}

TEST_CASE("an instance that crashes in create fails alone: the host keeps serving", "[run][isolation]") {
    test::HerdRun herd("[[discovery]]\nname = \"good\"\nplugin = \"old_minor\"\n"
                       "[[discovery]]\nname = \"bad\"\nplugin = \"crash_create\"\n",
                       "plugin_dir = \"" + test::fixture_dir().string() + "\"\n");
    REQUIRE(herd.wait_serving());
    // Serving starts before the instances are made; wait until startup has finished.
    REQUIRE(test::eventually([&] { return herd.get("/-/ready").body.find("starting") == std::string::npos; }));
    auto ready = herd.get("/-/ready");
    CHECK(ready.status == 503);
    CHECK_THAT(ready.body, Contains("discovery \"bad\" failed"));
    CHECK(herd.metric("herd_instance_up{kind=\"discovery\",name=\"bad\",plugin=\"crash_create\"}") == 0);
    CHECK(herd.metric("herd_instance_up{kind=\"discovery\",name=\"good\",plugin=\"old_minor\"}") == 1);
    CHECK(herd.metric("herd_discovery_targets{discovery=\"good\"}") == 1);
    CHECK_THAT(herd.get("/status").body, Contains("crash"));
    CHECK(herd.process().running());
}

TEST_CASE("run refuses an admin address already in use", "[run]") {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd, 1) == 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const int port = ntohs(a.sin_port);

    test::TempDir dir;
    test::write_file(dir / "herd.toml", "[host]\nadmin = \"127.0.0.1:" + std::to_string(port) + "\"\ndata_dir = \"" +
                                            (dir / "data").string() + "\"\n");
    auto r = test::run({test::herd_binary().string(), "run", "-c", (dir / "herd.toml").string()});
    close(fd);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("cannot listen on 127.0.0.1:" + std::to_string(port) + ": Address already in use"));
}

TEST_CASE("run refuses a broken configuration and starts nothing", "[run]") {
    test::TempDir dir;
    test::write_file(dir / "herd.toml", "[host]\nadmin = 1\n");
    auto r = test::run({test::herd_binary().string(), "run", "-c", (dir / "herd.toml").string()});
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("herd.toml:2:9: \"admin\" must be a string"));
}

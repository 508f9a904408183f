// Leader election over the KV ABI, on kv_sqlite, a real etcd and the Consul double: candidates are separate
// processes; the leader is killed with SIGKILL.
#include "consul_double.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <memory>
#include <sstream>
#include <thread>

using namespace herd;
namespace fs = std::filesystem;

namespace {

bool leads(test::Process& p) {
    std::string out = p.out(), last;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) last = line;
    return last == "leader";
}

// Runs three candidates; checks there is never more than one leader, kills the leader, and
// checks another takes over within ttl + one look (+ a generous margin for a loaded machine).
// `expiry` is how long the backend keeps a dead leader's key: the TTL on etcd and kv_sqlite;
// twice the TTL on Consul, whose sessions end only after 2 x TTL without renewal.
void elect(const std::string& plugin, const std::string& config, std::chrono::milliseconds ttl,
           std::chrono::milliseconds expiry = std::chrono::milliseconds(0)) {
    if (expiry.count() == 0) expiry = ttl;
    test::TempDir dir;
    std::vector<std::unique_ptr<test::Process>> candidates;
    for (int i = 0; i < 3; ++i)
        candidates.push_back(std::make_unique<test::Process>(
            std::vector<std::string>{ELECTION_CANDIDATE, test::plugin_dir().string(), plugin, config, "election/leader",
                                     "candidate-" + std::to_string(i), std::to_string(ttl.count())},
            dir.path(), "candidate-" + std::to_string(i)));
    auto leaders = [&] {
        int n = 0;
        for (auto& c : candidates)
            if (c->running() && leads(*c)) ++n;
        return n;
    };
    auto explain = [&] {  // on failure: what each candidate said
        for (size_t i = 0; i < candidates.size(); ++i)
            WARN("candidate " << i << " stdout:\n" << candidates[i]->out() << "stderr:\n" << candidates[i]->err());
    };
    int most = 0;
    const bool elected = test::eventually([&] {
        most = std::max(most, leaders());
        return leaders() == 1;
    });
    if (!elected) explain();
    REQUIRE(elected);
    size_t first = 0;
    while (!leads(*candidates[first])) ++first;
    // A while of steady state: never two.
    for (int i = 0; i < 20; ++i) {
        most = std::max(most, leaders());
        std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(ttl / 10, std::chrono::milliseconds(200)));  // sampling over time is what is tested here
    }
    CHECK(most == 1);

    candidates[first]->signal(SIGKILL);
    candidates[first]->wait(std::chrono::seconds(10));
    const auto killed = std::chrono::steady_clock::now();
    const bool replaced = test::eventually([&] {
        most = std::max(most, leaders());
        return leaders() == 1;
    }, std::chrono::seconds(30));
    if (!replaced) explain();
    REQUIRE(replaced);
    const auto takeover = std::chrono::steady_clock::now() - killed;
    CHECK(most == 1);
    CHECK(takeover <= expiry + ttl / 4 + std::chrono::seconds(3));
    INFO("takeover after " << std::chrono::duration_cast<std::chrono::milliseconds>(takeover).count() << " ms");

    // The new leader resigns: the last candidate takes over at once (no TTL to wait for).
    size_t second = 0;
    while (second == first || !leads(*candidates[second])) ++second;
    const auto resigned = std::chrono::steady_clock::now();
    candidates[second]->signal(SIGTERM);
    CHECK(candidates[second]->wait(std::chrono::seconds(10)) == 0);
    const bool handed_over = test::eventually([&] { return leaders() == 1; }, std::chrono::seconds(30));
    if (!handed_over) explain();
    REQUIRE(handed_over);
    CHECK(std::chrono::steady_clock::now() - resigned < ttl);
}

}  // namespace

TEST_CASE("election on kv_sqlite: one leader: a killed leader is replaced within the TTL", "[election]") {
    test::TempDir data;
    elect("kv_sqlite", R"({"path": ")" + (data / "election.sqlite").string() + R"(", "poll_interval": "20ms"})",
          std::chrono::milliseconds(1000));
}

TEST_CASE("election on etcd: one leader: a killed leader is replaced within the TTL", "[election][etcd]") {
    test::TempDir dir;
    const uint16_t client = test::free_port(), peer = test::free_port();
    const std::string url = "http://127.0.0.1:" + std::to_string(client);
    test::Process etcd({"/usr/bin/etcd", "--name", "e", "--data-dir", (dir / "data").string(), "--listen-client-urls", url,
                        "--advertise-client-urls", url, "--listen-peer-urls", "http://127.0.0.1:" + std::to_string(peer),
                        "--initial-advertise-peer-urls", "http://127.0.0.1:" + std::to_string(peer), "--initial-cluster",
                        "e=http://127.0.0.1:" + std::to_string(peer)},
                       dir.path(), "etcd");
    REQUIRE(test::eventually([&] { return test::http_get(client, "/health").body.find("true") != std::string::npos; }));
    // etcd's smallest lease is about 2 s with default timing.
    elect("kv_etcd", R"({"endpoints": [")" + url + R"("], "prefix": "election-test/"})", std::chrono::milliseconds(2000));
}

TEST_CASE("election on Consul: one leader: a killed leader is replaced once its session ends", "[election][consul]") {
    test::ConsulDouble consul;  // real TTL rules: at least 10 s, sessions end 2 x TTL after the last renewal
    elect("kv_consul", R"({"address": ")" + consul.address() + R"(", "prefix": "election-test/"})",
          std::chrono::milliseconds(10000), std::chrono::milliseconds(20000));
}

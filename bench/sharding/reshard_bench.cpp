// Reshard cost on one member for N configs in a real etcd: the full relist (one ranged read),
// the ownership computation (ring of 10 members), and the sink's own time (sink_files) —
// separately; beside the Grafana Agent's full refresh on etcd, in the same run: a List of the
// keys, then one Get per key (agent#789).
//   herd_reshard_bench <plugin_dir> <etcd url> <work dir> <configs>...
#include "kv/kv_client.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "sharding/ring.hpp"
#include "sink/sink_client.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

using namespace herd;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
std::unique_ptr<plugins::Instance> make(plugins::PluginRegistry& reg, const fs::path& so, const std::string& config,
                                        const fs::path& dir) {
    auto r = reg.load(so);
    if (!r.plugin) throw std::runtime_error(r.refusal);
    plugins::CreateError err;
    fs::create_directories(dir);
    auto i = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "bench", config, dir, dir, &err);
    if (!i) throw std::runtime_error(err.message);
    return i;
}
}  // namespace

int main(int argc, char** argv) try {
    if (argc < 5) {
        std::fprintf(stderr, "usage: herd_reshard_bench <plugin_dir> <etcd url> <work dir> <configs>...\n");
        return 2;
    }
    const fs::path plugins = argv[1], work = argv[3];
    plugins::PluginRegistry reg(metrics::global(), false);
    auto kv_inst = make(reg, plugins / "kv_etcd.so", std::string(R"({"endpoints":[")") + argv[2] + R"("],"timeout":"30s"})",
                        work / "kv");
    kv::KvClient kv(*kv_inst);
    std::vector<std::string> members;
    for (int i = 0; i < 10; ++i) members.push_back("herd-" + std::to_string(i));
    sharding::Ring ring(members);
    std::printf("%-8s %12s %12s %12s %12s %14s %10s\n", "configs", "put (setup)", "relist", "ownership", "sink", "agent refresh",
                "ratio");
    size_t stored = 0;
    for (int a = 4; a < argc; ++a) {
        const size_t n = std::stoul(argv[a]);
        const std::string prefix = "bench/" + std::to_string(n) + "/configs/";
        // Setup: n configs, written by 8 threads (not part of a reshard).
        auto t = Clock::now();
        std::atomic<size_t> next{0};
        std::vector<std::thread> writers;
        for (int w = 0; w < 8; ++w)
            writers.emplace_back([&] {
                for (size_t i; (i = next++) < n;)
                    kv.put(prefix + "cfg-" + std::to_string(i),
                           "scrape_configs:\n  - job_name: job-" + std::to_string(i) +
                               "\n    static_configs: [{targets: ['127.0.0.1:1']}]\n");
            });
        for (auto& w : writers) w.join();
        const double setup = since(t);
        stored += n;
        // herd's relist: one ranged read.
        t = Clock::now();
        std::vector<kv::Entry> all;
        kv.list(prefix, [&](const kv::Entry& e) { all.push_back(e); });
        const double relist = since(t);
        // Ownership: which of the n this member (herd-0) owns.
        t = Clock::now();
        std::vector<sink::Item> mine;
        for (const auto& e : all) {
            const std::string name = e.key.substr(prefix.size());
            if (*ring.owner_of(name) == "herd-0") mine.push_back({name, HERD_SINK_SCRAPE_CONFIG, e.value});
        }
        const double ownership = since(t);
        // The sink's own time: sink_files writing this member's share.
        auto sink_inst = make(reg, plugins / "sink_files.so", R"({"dir":")" + (work / ("out-" + std::to_string(n))).string() + "\"}",
                              work / ("sink-" + std::to_string(n)));
        sink::SinkClient sink(*sink_inst);
        t = Clock::now();
        auto r = sink.apply(mine);
        const double sink_time = since(t);
        if (!r.ok()) throw std::runtime_error(r.message);
        // The agent's full refresh on etcd: List the keys, then Get every one.
        t = Clock::now();
        std::vector<std::string> keys;
        kv.list(prefix, [&](const kv::Entry& e) { keys.push_back(e.key); });
        for (const auto& k : keys) kv.get(k);
        const double agent = since(t);
        std::printf("%-8zu %11.2fs %11.3fs %11.3fs %11.3fs %13.2fs %9.1fx\n", n, setup, relist, ownership, sink_time, agent,
                    agent / (relist + ownership));
        std::fflush(stdout);
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "herd_reshard_bench: %s\n", e.what());
    return 1;
}

// Drives a KV plugin through the ABI, as herd does: T threads, each doing one operation kind on
// its own key for a fixed time. Prints operations per second.
//   herd_kv_bench <plugin dir> <plugin> <config json> <put|get|cas> <threads> <seconds>
#include "kv/kv_client.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
    using namespace herd;
    if (argc != 7) {
        std::fprintf(stderr, "usage: %s <plugin dir> <plugin> <config json> <put|get|cas> <threads> <seconds>\n", argv[0]);
        return 2;
    }
    spdlog::set_level(spdlog::level::err);  // stdout carries only the result
    const std::string dir = argv[1], name = argv[2], config = argv[3], op = argv[4];
    const int threads = std::stoi(argv[5]);
    const auto duration = std::chrono::seconds(std::stoi(argv[6]));
    plugins::PluginRegistry registry(metrics::global(), false);
    auto loaded = registry.load(std::filesystem::path(dir) / (name + ".so"));
    if (!loaded.plugin) {
        std::fprintf(stderr, "%s\n", loaded.refusal.c_str());
        return 1;
    }
    plugins::CreateError err;
    auto inst = plugins::Instance::create(loaded.plugin, loaded.plugin->factories.at(0), "bench", config, "/tmp", "/tmp", &err);
    if (!inst) {
        std::fprintf(stderr, "%s\n", err.message.c_str());
        return 1;
    }
    kv::KvClient client(*inst);
    std::atomic<long> ops{0}, failures{0};
    std::vector<std::thread> workers;
    const auto end = std::chrono::steady_clock::now() + duration;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            const std::string key = "key-" + std::to_string(t);
            int64_t rev = client.put(key, "value");
            long n = 0;
            while (std::chrono::steady_clock::now() < end) {
                try {
                    if (op == "put") {
                        client.put(key, "value");
                    } else if (op == "get") {
                        client.get(key);
                    } else {
                        // Compare-and-swap as a CAS loop runs it: write only if the key is still at
                        // the revision this writer last wrote — one txn (compare + put, and in its
                        // failure branch the key as it is); read only after a conflict.
                        try {
                            rev = client.put(key, "value", rev);
                        } catch (const kv::KvError& e) {
                            if (e.status() != HERD_ERR_CONFLICT) throw;
                            rev = client.get(key)->mod_revision;
                        }
                    }
                    ++n;
                } catch (const std::exception&) {
                    ++failures;
                }
            }
            ops += n;
        });
    for (auto& w : workers) w.join();
    std::printf("%.0f\n", static_cast<double>(ops) / static_cast<double>(duration.count()));
    if (failures) std::fprintf(stderr, "%ld operations failed\n", failures.load());
    return failures ? 1 : 0;
}

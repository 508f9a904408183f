// The sink benchmark's driver: a sink plugin through the ABI, as a pipeline drives it.
//   herd_sink_bench prometheus <plugin_dir> <base> <output> <reload_url> <items>
//   herd_sink_bench files <plugin_dir> <dir> <items> <percent changed>
// Prints "key value" lines the run script turns into a table.
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "sink/sink_client.hpp"

#include <chrono>
#include <filesystem>
#include <iostream>

using namespace herd;
using Clock = std::chrono::steady_clock;

namespace {
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::unique_ptr<plugins::Instance> open(plugins::PluginRegistry& reg, const std::filesystem::path& so,
                                        const std::string& config, const std::filesystem::path& data) {
    auto r = reg.load(so);
    if (!r.plugin) throw std::runtime_error(r.refusal);
    plugins::CreateError err;
    std::filesystem::create_directories(data);
    auto inst = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "bench", config, data, data, &err);
    if (!inst) throw std::runtime_error(err.message);
    return inst;
}

std::string job(int i, int generation) {
    return "scrape_configs:\n  - job_name: job-" + std::to_string(i) + "\n    scrape_interval: 1m\n    static_configs:\n"
           "      - targets: ['127.0.0.1:1']\n        labels: {gen: '" + std::to_string(generation) + "'}\n";
}
}  // namespace

int main(int argc, char** argv) try {
    const std::string mode = argc > 1 ? argv[1] : "";
    plugins::PluginRegistry reg(metrics::global(), false);
    if (mode == "prometheus" && argc == 7) {
        const int n = std::stoi(argv[6]);
        const std::string config = std::string(R"({"base":")") + argv[3] + R"(","output":")" + argv[4] +
                                   R"(","reload_url":")" + argv[5] + R"(","reload_timeout":"120s"})";
        auto inst = open(reg, std::filesystem::path(argv[2]) / "sink_prometheus.so", config,
                         std::filesystem::path(argv[4]).parent_path() / "data");
        sink::SinkClient sink(*inst);
        auto phase = [](const char* p) {
            return metrics::global()
                .gauge("herd_sink_prometheus_last_apply_seconds", "", {"sink", "phase"})
                .with({"bench", p})
                .value();
        };
        for (int round = 0; round < 2; ++round) {  // 0: all new; 1: every config edited
            std::vector<sink::Item> items;
            for (int i = 0; i < n; ++i) items.push_back({"cfg-" + std::to_string(i), HERD_SINK_SCRAPE_CONFIG, job(i, round)});
            auto t = Clock::now();
            auto r = sink.apply(items);
            const double total = since(t);
            if (!r.ok()) throw std::runtime_error(r.message);
            const char* tag = round == 0 ? "first" : "edit";
            std::cout << tag << "_total " << total << "\n"
                      << tag << "_render " << phase("render") << "\n"
                      << tag << "_check " << phase("check") << "\n"
                      << tag << "_write " << phase("write") << "\n"
                      << tag << "_reload " << phase("reload") << "\n";
        }
        auto t = Clock::now();  // the same set again: idempotent, nothing to do
        sink.apply([&] {
            std::vector<sink::Item> items;
            for (int i = 0; i < n; ++i) items.push_back({"cfg-" + std::to_string(i), HERD_SINK_SCRAPE_CONFIG, job(i, 1)});
            return items;
        }());
        std::cout << "same_total " << since(t) << "\n";
        return 0;
    }
    if (mode == "files" && argc == 6) {
        const int n = std::stoi(argv[4]);
        const double pct = std::stod(argv[5]);
        const std::string dir = argv[3];
        auto inst = open(reg, std::filesystem::path(argv[2]) / "sink_files.so", R"({"dir":")" + dir + "\"}",
                         std::filesystem::path(dir).parent_path() / "data");
        sink::SinkClient sink(*inst);
        std::vector<sink::Item> items;
        for (int i = 0; i < n; ++i) items.push_back({"item-" + std::to_string(i), HERD_SINK_TARGET_GROUPS,
                                                     R"([{"targets":["10.0.)" + std::to_string(i / 250) + "." +
                                                         std::to_string(i % 250) + R"(:9100"],"labels":{"gen":"0"}}])"});
        auto t = Clock::now();
        if (auto r = sink.apply(items); !r.ok()) throw std::runtime_error(r.message);
        std::cout << "full " << since(t) << "\n";
        const int changed = static_cast<int>(n * pct / 100);
        for (int i = 0; i < changed; ++i) items[static_cast<size_t>(i * (n / std::max(changed, 1)))].body += " ";
        t = Clock::now();
        if (auto r = sink.apply(items); !r.ok()) throw std::runtime_error(r.message);
        std::cout << "change " << since(t) << "\nchanged " << changed << "\n";
        t = Clock::now();
        if (auto r = sink.apply(items); !r.ok()) throw std::runtime_error(r.message);
        std::cout << "same " << since(t) << "\n";
        return 0;
    }
    std::cerr << "usage: herd_sink_bench prometheus <plugin_dir> <base> <output> <reload_url> <items>\n"
                 "       herd_sink_bench files <plugin_dir> <dir> <items> <percent>\n";
    return 2;
} catch (const std::exception& e) {
    std::cerr << "herd_sink_bench: " << e.what() << "\n";
    return 1;
}

// Applies two item sets (A and B, every file different between them) through sink_files, one
// after the other, forever — until the test kills it with SIGKILL at a random moment.
//   sink_files_crasher <plugin.so> <dir> <items>
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "sink/sink_client.hpp"

#include <iostream>

using namespace herd;

// The content of item i in generation g: large enough that a torn write would show.
std::string body_of(int i, char g) { return "# item " + std::to_string(i) + "\n" + std::string(20000, g) + "\n# end\n"; }

int main(int argc, char** argv) {
    if (argc != 4) return 2;
    plugins::PluginRegistry registry(metrics::global(), false);
    auto r = registry.load(argv[1]);
    if (!r.plugin) return 3;
    plugins::CreateError err;
    auto inst = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "crash",
                                          std::string(R"({"dir":")") + argv[2] + "\"}", argv[2], argv[2], &err);
    if (!inst) {
        std::cerr << err.message << "\n";
        return 4;
    }
    sink::SinkClient client(*inst);
    const int n = std::stoi(argv[3]);
    for (long round = 0;; ++round) {
        const char g = round % 2 ? 'B' : 'A';
        std::vector<sink::Item> items;
        for (int i = 0; i < n; ++i) items.push_back({"item-" + std::to_string(i), HERD_SINK_SCRAPE_CONFIG, body_of(i, g)});
        auto res = client.apply(items);
        if (!res.ok()) {
            std::cerr << res.message << "\n";
            return 5;
        }
        if (round == 0) std::cout << "applied" << std::endl;
    }
}

// `herd sink -c FILE [--sink NAME] apply ITEM... | show [--load]`: a configured sink driven by
// hand, for debugging what a pipeline would hand it (like `herd kv` and `herd sd`). Each item is a
// file: its name without the extension is the item's name, `.yml`/`.yaml` a scrape config,
// `.json` file_sd target groups. `apply` with no file makes the sink hold nothing.
#include "cli/commands.hpp"
#include "cli/lookup.hpp"
#include "sink/sink_client.hpp"

#include <herd/sdk/sink_support.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

namespace herd::cli {

namespace {
// The only [[sink]] when --sink is not given.
std::string default_sink(const std::filesystem::path& file, const Common& c) {
    auto loaded = config::load_file(file, c.default_plugin_dir);
    if (!loaded.config) return {};
    std::vector<std::string> names;
    for (const auto& i : loaded.config->instances)
        if (i.kind == HERD_KIND_SINK) names.push_back(i.name);
    return names.size() == 1 ? names.front() : std::string();
}
}  // namespace

int sink(const Common& c, const SinkArgs& a) {
    std::vector<sink::Item> items;
    for (const auto& path : a.items) {
        const std::string file = path.filename().string();
        auto media = sink::media_type_for_file(file);
        if (!media) {
            std::cerr << path.string() << ": an item file ends in .yml, .yaml (a scrape config) or .json (target groups)\n";
            return 2;
        }
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            std::cerr << path.string() << ": cannot read it\n";
            return 2;
        }
        std::ostringstream body;
        body << in.rdbuf();
        std::string name = path.stem().string();
        if (auto why = sdk::check_item_name(name); !why.empty()) {
            std::cerr << path.string() << ": " << why << "\n";
            return 2;
        }
        for (const auto& other : items)
            if (other.name == name) {
                std::cerr << path.string() << ": two items named \"" << name << "\"\n";
                return 2;
            }
        items.push_back({name, *media, body.str()});
    }
    const std::string name = a.name.empty() ? default_sink(a.config, c) : a.name;
    auto opened = open_instance(c, a.config, HERD_KIND_SINK, "sink", name);
    if (!opened) return 1;
    sink::SinkClient client(*opened->instance);
    const std::string label = "sink \"" + opened->instance->name() + "\": ";
    try {
        if (a.action == "apply") {
            auto r = client.apply(items);
            if (!r.ok()) {
                std::cerr << label << "refused: " << r.message << "\n";
                for (const auto& [item, why] : r.refused) std::cerr << "  item \"" << item << "\": " << why << "\n";
                return 1;
            }
            std::cout << label << "holds " << items.size() << " item(s)\n";
        } else if (a.load) {
            auto l = client.load();
            if (!l) {
                std::cerr << label << "does not report load\n";
                return 1;
            }
            std::cout << *l << "\n";
        } else {
            for (const auto& i : client.held())
                std::cout << nlohmann::json{{"name", i.name}, {"media_type", i.media_type}, {"body", i.body}}.dump() << "\n";
        }
    } catch (const std::exception& e) {
        std::cerr << label << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace herd::cli

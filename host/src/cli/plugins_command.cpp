// `herd plugins [DIR]`: every file in the plugin directory, what it provides, or why it was refused.
#include "cli/commands.hpp"
#include "metrics/registry.hpp"
#include "plugins/exported_symbols.hpp"
#include "plugins/plugin_registry.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>

namespace herd::cli {

int plugins(const Common& c, const std::filesystem::path& dir, bool json) {
    if (!std::filesystem::is_directory(dir)) {
        std::cerr << "herd plugins: " << dir.string() << " is not a directory\n";
        return 2;
    }
    plugins::PluginRegistry registry(metrics::global(), c.isolate);
    auto reports = registry.scan(dir);
    bool refused = false;
    auto out = nlohmann::json::array();
    for (const auto& r : reports) {
        nlohmann::json row{{"file", r.file.filename().string()}, {"path", r.file.string()}};
        if (r.plugin) {
            row["status"] = "loaded";
            row["name"] = r.plugin->name;
            row["version"] = r.plugin->version;
            row["abi"] = std::to_string(r.plugin->abi_major) + "." + std::to_string(r.plugin->abi_minor);
            row["kinds"] = r.plugin->kinds();
            row["description"] = r.plugin->description;
            auto f = nlohmann::json::array();
            for (const auto* x : r.plugin->factories)
                f.push_back({{"kind", plugins::kind_name(x->kind)}, {"name", x->name},
                             {"description", x->description ? x->description : ""}});
            row["factories"] = f;
            // More than the entry point exported: linked without the SDK's version script.
            if (auto syms = plugins::exported_symbols(r.file)) {
                std::vector<std::string> extra;
                for (const auto& s : *syms)
                    if (s != "herd_plugin_entry") extra.push_back(s);
                if (!extra.empty()) {
                    std::string some;
                    for (size_t i = 0; i < extra.size() && i < 3; ++i) some += (i ? ", " : "") + extra[i];
                    row["warning"] = "exports " + std::to_string(extra.size()) + " symbols besides herd_plugin_entry (" + some +
                                     (extra.size() > 3 ? ", …" : "") +
                                     "): link it with herd_add_plugin or $(pkg-config --libs herd_plugin_api), or its "
                                     "internals can clash with another plugin's";
                }
            }
        } else {
            row["status"] = r.skipped ? "skipped" : "refused";
            row["reason"] = r.refusal;
            refused = refused || !r.skipped;
        }
        out.push_back(row);
    }
    if (json) {
        std::cout << out.dump(2) << "\n";
        return refused ? 1 : 0;
    }
    std::cout << "plugins in " << dir.string() << " (host ABI " << HERD_ABI_MAJOR << "." << HERD_ABI_MINOR << ")\n";
    size_t w = 4;
    for (const auto& r : out) w = std::max(w, r["file"].get<std::string>().size());
    for (const auto& r : out) {
        std::string file = r["file"];
        std::cout << "  " << file << std::string(w - file.size() + 2, ' ');
        if (r["status"] == "loaded") {
            std::cout << r["name"].get<std::string>() << " " << r["version"].get<std::string>() << "  ABI "
                      << r["abi"].get<std::string>() << "  " << r["kinds"].get<std::string>() << "\n";
            if (r.contains("warning")) std::cout << std::string(w + 4, ' ') << "warning: " << r["warning"].get<std::string>() << "\n";
            for (const auto& f : r["factories"])
                std::cout << std::string(w + 4, ' ') << "- " << f["kind"].get<std::string>() << " "
                          << f["name"].get<std::string>() << ": " << f["description"].get<std::string>() << "\n";
        } else {
            std::cout << r["status"].get<std::string>() << ": " << r["reason"].get<std::string>() << "\n";
        }
    }
    return refused ? 1 : 0;
}

}  // namespace herd::cli

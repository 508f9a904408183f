#include "plugins/plugin_registry.hpp"

#include "metrics/registry.hpp"
#include "util/child_process.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace herd::plugins {

namespace fs = std::filesystem;

PluginRegistry::PluginRegistry(metrics::Registry& metrics, bool isolate) : metrics_(metrics), isolate_(isolate) {}

std::vector<FileReport> PluginRegistry::scan(const fs::path& dir) {
    std::vector<FileReport> out;
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (!e.is_directory() && e.path().filename().string().front() != '.') files.push_back(e.path());
    if (ec) {
        out.push_back({dir, nullptr, "cannot read plugin directory: " + ec.message(), false});
        return out;
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        if (f.extension() != ".so") {
            out.push_back({f, nullptr, "not named *.so: not a plugin file", true});
            continue;
        }
        out.push_back(load(f));
    }
    return out;
}

std::vector<FileReport> PluginRegistry::scan(const std::vector<fs::path>& dirs) {
    std::vector<FileReport> out;
    for (const auto& d : dirs) {
        if (!fs::is_directory(d)) {
            out.push_back({d, nullptr, "not a directory: no plugins from it", false});
            continue;
        }
        auto r = scan(d);
        out.insert(out.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
    }
    return out;
}

FileReport PluginRegistry::load(const fs::path& file) {
    std::lock_guard lk(mu_);
    return load_locked(fs::absolute(file).lexically_normal());
}

FileReport PluginRegistry::load_locked(const fs::path& file) {
    if (auto it = by_file_.find(file); it != by_file_.end()) return {file, it->second, {}, false};

    auto refuse = [&](std::string why) {
        refused_[file] = why;
        metrics_.gauge("herd_plugin_refused", "1 for each plugin file that was refused; see /status or the log for why.",
                       {"file"})
            .with({file.string()})
            .set(1);
        spdlog::error("plugin {} refused: {}", file.string(), why);
        return FileReport{file, nullptr, std::move(why), false};
    };

    if (isolate_) {
        if (auto why = probe(file); !why.empty()) return refuse(why);
    }
    LoadResult r = load_plugin(file, metrics_);
    if (!r.plugin) return refuse(r.error);
    if (auto it = by_name_.find(r.plugin->name); it != by_name_.end())
        return refuse(it->second->file.parent_path() == file.parent_path()
                          ? "plugin name \"" + r.plugin->name + "\" is already provided by " + it->second->file.string() +
                                ": remove one of the two files"
                          : "plugin name \"" + r.plugin->name + "\" is taken from an earlier plugin_dir (" +
                                it->second->file.string() + "): this one is shadowed");

    const auto& p = r.plugin;
    std::set<std::string> kinds;
    for (const auto* f : p->factories) kinds.insert(kind_name(f->kind));
    auto& info = metrics_.gauge("herd_plugin_info", "Plugins loaded, one series per plugin and kind it provides.",
                                {"file", "name", "kind", "version", "abi"});
    for (const auto& k : kinds)
        info.with({file.string(), p->name, k, p->version,
                   std::to_string(p->abi_major) + "." + std::to_string(p->abi_minor)})
            .set(1);
    spdlog::info("plugin {} {} loaded from {} (ABI {}.{}; {})", p->name, p->version, file.string(), p->abi_major,
                 p->abi_minor, p->kinds());
    refused_.erase(file);
    by_name_[p->name] = p;
    by_file_[file] = p;
    return {file, p, {}, false};
}

// Loads the file in a child process first. Returns why it must be refused, or "" when it loaded.
std::string PluginRegistry::probe(const fs::path& file) const {
    auto r = util::run_child({util::probe_executable().string(), "__probe-load", file.string()}, "", load_timeout_);
    if (r.spawn_failed) {
        spdlog::warn("cannot start a probe process for {} ({}); loading it without isolation", file.string(), r.err);
        return {};
    }
    if (r.timed_out)
        return "hung while loading (no answer within " + std::to_string(load_timeout_.count()) +
               " ms, [host] load_probe_timeout): its entry point must not block";
    if (r.signal) return "crashed while loading with " + util::describe_signal(r.signal) + ": the plugin is broken";
    try {
        auto j = nlohmann::json::parse(r.out);
        if (j.value("ok", false)) return {};
        return j.value("error", std::string("refused"));
    } catch (const std::exception&) {
        return "the probe process gave no answer (exit " + std::to_string(r.exit_code) + "): " + r.err;
    }
}

std::shared_ptr<LoadedPlugin> PluginRegistry::find(const std::string& name) const {
    std::lock_guard lk(mu_);
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<LoadedPlugin>> PluginRegistry::plugins() const {
    std::lock_guard lk(mu_);
    std::vector<std::shared_ptr<LoadedPlugin>> out;
    for (const auto& [_, p] : by_name_) out.push_back(p);
    return out;
}

std::vector<Refusal> PluginRegistry::refusals() const {
    std::lock_guard lk(mu_);
    std::vector<Refusal> out;
    for (const auto& [f, why] : refused_) out.push_back({f, why});
    return out;
}

std::string PluginRegistry::why_missing(const std::string& name, const std::string& dirs) const {
    for (const auto& r : refusals())
        if (r.file.stem() == name) return "plugin \"" + name + "\" was refused: " + r.file.string() + " " + r.reason;
    std::string have;
    for (const auto& p : plugins()) have += (have.empty() ? "" : ", ") + p->name;
    return "no plugin named \"" + name + "\" in " + dirs + " (loaded: " + (have.empty() ? "none" : have) + ")";
}

}  // namespace herd::plugins

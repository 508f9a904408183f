// Every plugin library the host has loaded, by name, plus why the others were refused.
// Loading can be isolated: each file is first tried in a throw-away child process (`herd
// __probe-load`), so a plugin that crashes while loading is refused instead of killing the host.
#pragma once

#include "plugins/loaded_plugin.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace herd::plugins {

struct FileReport {
    std::filesystem::path file;
    std::shared_ptr<LoadedPlugin> plugin;  // set when loaded
    std::string refusal;                   // set when refused
    bool skipped = false;                  // not a *.so file: not tried at all
};

class PluginRegistry {
public:
    PluginRegistry(metrics::Registry& metrics, bool isolate);
    // How long a file may take to load in its probe process ([host] load_probe_timeout).
    void set_load_probe_timeout(std::chrono::milliseconds t) { load_timeout_ = t; }

    // Loads every *.so in dir not loaded before (sorted by file name, so the first of two plugins
    // with one name wins deterministically). Reports every file in the directory.
    std::vector<FileReport> scan(const std::filesystem::path& dir);
    // Every directory of a search path in order: a plugin name is taken from the first that has it
    // (a later file with a loaded name is refused, saying where the name came from). A directory
    // that does not exist is reported, not fatal.
    std::vector<FileReport> scan(const std::vector<std::filesystem::path>& dirs);
    // Loads (or finds, if loaded) one file.
    FileReport load(const std::filesystem::path& file);

    std::shared_ptr<LoadedPlugin> find(const std::string& name) const;
    std::vector<std::shared_ptr<LoadedPlugin>> plugins() const;
    std::vector<Refusal> refusals() const;
    // Why there is no plugin called `name`: the refusal of the file that would have been it, or
    // which plugins `dir` does have.
    std::string why_missing(const std::string& name, const std::string& dirs) const;

private:
    FileReport load_locked(const std::filesystem::path& file);
    std::string probe(const std::filesystem::path& file) const;

    metrics::Registry& metrics_;
    bool isolate_;
    std::chrono::milliseconds load_timeout_{10000};
    mutable std::mutex mu_;
    std::map<std::string, std::shared_ptr<LoadedPlugin>> by_name_;
    std::map<std::filesystem::path, std::shared_ptr<LoadedPlugin>> by_file_;
    std::map<std::filesystem::path, std::string> refused_;
};

}  // namespace herd::plugins

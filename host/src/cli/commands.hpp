// herd's subcommands. Each returns the process exit code.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace herd::cli {

struct Common {
    std::filesystem::path default_plugin_dir;  // <exe>/../<libdir>/herd/plugins
    std::string log_level;                     // "" = from config / default
    bool isolate = true;                       // try plugins in a child process first
};

int run(const Common& c, const std::filesystem::path& config);
int check(const Common& c, const std::filesystem::path& config);
int plugins(const Common& c, const std::filesystem::path& dir, bool json);
struct KvArgs {
    std::filesystem::path config;
    std::string name, action, key, value, expect;
    int64_t lease = 0;
    std::string from = "now";  // watch: "now", "first" (all the store retains) or a revision
    bool json = false;
};
int kv(const Common& c, const KvArgs& args);
struct SinkArgs {
    std::filesystem::path config;
    std::string name, action;
    std::vector<std::filesystem::path> items;
    bool load = false;
};
int sink(const Common& c, const SinkArgs& args);
struct ShardingArgs {
    std::filesystem::path config, file;
    std::string name, action, key;
};
int sharding(const Common& c, const ShardingArgs& args);
struct DispatchArgs {
    std::filesystem::path config, file;
    std::string name, action, key;
};
int dispatch(const Common& c, const DispatchArgs& args);
struct ConformanceArgs {
    std::filesystem::path plugin, config_dir;
    std::string kind, factory, config, media_type, only, case_timeout, wait, stop_command, start_command;
    std::vector<std::string> require;
    bool json = false, list = false;
};
int conformance(const Common& c, const ConformanceArgs& args);
int sd(const Common& c, const std::filesystem::path& config, const std::string& discovery, bool once,
       std::chrono::milliseconds timeout);

// Hidden: used by the host itself to try a plugin in a throw-away process.
int probe_load(const std::filesystem::path& file);
int probe_create(const std::filesystem::path& file, const std::string& kind, const std::string& factory,
                 const std::string& instance, const std::filesystem::path& data_dir,
                 const std::filesystem::path& config_dir);

}  // namespace herd::cli

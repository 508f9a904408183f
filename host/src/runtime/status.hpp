// A plain snapshot of what the host is doing, for /status, /-/ready and `herd` messages.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace herd::runtime {

struct PluginRow {
    std::string name, version, abi, kinds, file, description;
    std::vector<std::string> factories;  // "discovery sd_file"
};

struct RefusalRow {
    std::string file, reason;
};

struct InstanceRow {
    std::string kind, name, plugin, factory;
    std::string state;   // running, failed, starting, healthy, failing
    std::string detail;  // e.g. "3 groups, 7 targets"
    std::string error;   // why it is not well, "" when it is
    std::chrono::system_clock::time_point last_update{};
    // Discovery: (source, addresses) per group, at most kMaxListedTargets addresses in all.
    std::vector<std::pair<std::string, std::vector<std::string>>> groups;
    size_t unlisted_targets = 0;
};

inline constexpr size_t kMaxListedTargets = 200;

struct ProxyBackendRow {
    std::string id;
    bool eligible = false, ready = false, ejected = false;
    double score = 0;       // NaN when the strategy has none
    double uptime_s = -1;   // -1 when unknown
    double history_s = -1;  // now - lowest timestamp, -1 when unknown
    double requests = 0, errors = 0;
    std::string error;
};

struct ProxyRow {
    std::string name, listen, state, error;
    std::string strategy, interval;
    std::vector<std::string> affinity;
    int retries = 0;
    std::chrono::system_clock::time_point last_selection{};
    std::string last_result, selection_error;
    std::vector<ProxyBackendRow> backends;
};

struct StatusSnapshot {
    std::string version;
    std::string config_file;
    std::string plugin_dir;
    std::string admin;
    std::chrono::system_clock::time_point started_at{};
    std::chrono::system_clock::time_point last_reload{};
    bool last_reload_ok = true;
    std::string last_reload_error;
    bool ready = false;
    std::string not_ready_reason;
    std::vector<PluginRow> plugins;
    std::vector<RefusalRow> refusals;
    std::vector<InstanceRow> instances;
    std::vector<ProxyRow> proxies;
};

}  // namespace herd::runtime

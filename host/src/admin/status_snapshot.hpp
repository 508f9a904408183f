// A plain snapshot of what the host is doing, for /status, /-/ready and `herd` messages. The
// runtime fills it; the admin page renders it.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace herd::admin {

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

// A pipeline's part of /status: its headline, and its own section (server-rendered HTML that the
// pipeline writes itself, so the page knows no pipeline kind).
struct PipelineSection {
    std::string kind, name, state, error;
    std::string html;
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
    std::vector<PipelineSection> pipelines;
};

}  // namespace herd::admin

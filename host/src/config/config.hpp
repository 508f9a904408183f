// herd's configuration: one TOML file. The host owns [host] and the keys name/plugin/factory of
// each instance table; every other key of an instance goes to its plugin as JSON.
#pragma once

#include "config/diagnostic.hpp"

#include <herd/plugin_api.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace herd::config {

struct HostConfig {
    std::filesystem::path plugin_dir;                // the first of plugin_dirs, for messages
    std::vector<std::filesystem::path> plugin_dirs;  // the search path: a name is taken from the first that has it
    std::string plugin_dirs_text() const;            // "a, b" for messages
    std::filesystem::path data_dir;
    std::string admin = "127.0.0.1:9095";
    std::string log_level = "info";
    std::chrono::milliseconds drain_timeout{10000};
    // How long a plugin may take in its throw-away probe process: loading (the entry point) and
    // create. Past them it is refused as hanging.
    std::chrono::milliseconds load_probe_timeout{10000};
    std::chrono::milliseconds create_probe_timeout{30000};
};

// A [[kv]], [[discovery]] or [[sink]] table: one plugin instance.
struct InstanceConfig {
    herd_kind kind = 0;
    std::string section;  // "kv", "discovery", "sink": the TOML array the table came from
    std::string name;
    std::string plugin;
    std::string factory;      // "" = the plugin's only factory of this kind
    nlohmann::json settings;  // every other key, for the plugin
    Position where;           // the table's header
    std::shared_ptr<const toml::table> table;

    // Where a key of this table ("files[1]", "tls.ca_file") is written; the table's position when
    // the key is not there.
    Position position_of(std::string_view key_path) const;
    // Equal fingerprints = nothing to restart on reload.
    std::string fingerprint() const;
};

// A reference from a pipeline to a plugin factory (strategy, affinity module).
struct PluginRef {
    herd_kind kind = 0;
    std::string plugin;
    std::string factory;
    std::string key;          // where it is written, e.g. "affinity[1]"
    nlohmann::json settings;  // the table's other keys, for the plugin
};

// Which failures of one attempt send the request to another backend (retry_on). The default
// leaves out 503 and the response timeout: Prometheus answers a PromQL timeout with 503
// (errorType "timeout"), and a query that timed out on one replica must not run again on every other.
struct RetryOn {
    bool connect = true;   // refused, unreachable, connect timeout, unresolvable
    bool reset = true;     // the connection broke, or the answer was not valid HTTP, before any byte reached the client
    bool timeout = false;  // no response header within response_timeout
    std::vector<int> statuses{502, 504};
    bool status(int s) const { return std::find(statuses.begin(), statuses.end(), s) != statuses.end(); }
};

// A [[proxy]]'s own settings (its strategy and affinity modules are the pipeline's plugin_refs:
// the strategy first, then the affinity modules in order).
struct ProxyConfig {
    std::string listen;
    std::vector<std::string> backends;  // [[discovery]] names
    std::chrono::milliseconds interval{10000};          // selection interval (strategy.interval)
    int retries = 2;
    int threads = 0;                                    // 0 = the number of cores
    std::string path_prefix;                            // "/prom": clients' /prom/api/... -> /api/...
    uint64_t max_request_body = 10ull << 20;            // bytes buffered for replay; 413 beyond
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds response_timeout{120000};  // until the backend's response headers
    std::chrono::milliseconds idle_timeout{300000};      // a client connection with no request
    std::chrono::milliseconds stats_timeout{3000};       // gathering /metrics and /-/ready
    std::chrono::milliseconds health_interval{5000};     // active /-/ready checks
    std::chrono::milliseconds eject_duration{10000};     // passive ejection cool-down
    int eject_after = 1;                                 // consecutive failures before ejection
    bool mpp_endpoints = false;                          // /mpp/health, /mpp/status, /mpp/metrics
    RetryOn retry_on;
    size_t max_request_headers = 100;                    // header fields per request; 431 beyond
    uint64_t max_response_header = 64 << 10;             // bytes of a backend's response head
};

// A [[sharding]]'s own settings (docs/configuration.md).
struct ShardingConfig {
    std::string kv;                // a [[kv]] name; "" = the only one, else the embedded store
    std::string prefix;            // KV prefix; default "herd/sharding/<name>/"
    std::string member_id;         // "" = generated once and kept in data_dir
    std::string advertise;         // the admin address peers and users see; default [host] admin
    int tokens = 4096;
    std::chrono::milliseconds heartbeat{5000};
    std::chrono::milliseconds heartbeat_timeout{15000};   // the member key's lease
    std::chrono::milliseconds reshard_interval{60000};    // full relist
    std::chrono::milliseconds handoff_timeout{30000};     // how long an old owner waits for a new one
    bool configs = true;                                   // the config API and CLI
    std::vector<std::string> targets;                      // [[discovery]] names
    std::vector<std::string> target_key;                   // labels to hash; [] = all but __meta_*
    std::string sink;                                      // a [[sink]] name (required)
    bool keep_on_leave = false;                            // SIGTERM: leave the agent running its share
    uint64_t max_config_size = 1 << 20;
};

// A [[dispatch]]'s check template: one check per target of a [[discovery]] (docs/configuration.md).
struct DispatchCheckTemplate {
    std::string discovery;
    bool annotations = false;          // the Services' ad.datadoghq.com/service.* annotations
    std::string check_name;
    nlohmann::json init_config = nlohmann::json::object();
    nlohmann::json instances = nlohmann::json::array();
};

// A [[dispatch]]'s own settings (docs/configuration.md).
struct DispatchConfig {
    std::string kv;                 // a [[kv]] name; "" = the only one, else the embedded store
    std::string prefix;             // default "herd/dispatch/<name>/"
    bool leader = true;             // role includes "leader": a candidate that serves the API
    bool node = false;              // role includes "node": polls, runs checks through its sink
    std::string node_id;            // default: the host name
    std::string advertise;          // default [host] admin
    std::vector<std::string> servers;  // for nodes: members to poll (host:port); default: this herd
    std::string token;              // Bearer token ("" = none); token_file is read into it
    std::chrono::milliseconds node_expiration{30000};
    std::chrono::milliseconds poll_interval{10000};
    std::chrono::milliseconds rebalance_period{600000};
    double rebalance_min_improvement = 0.10;
    std::chrono::milliseconds lease{15000};  // the leader's lease (election TTL)
    std::vector<DispatchCheckTemplate> checks;
    std::string sink;               // a [[sink]] name (for nodes)
    std::string sink_format = "conf.d";  // "conf.d" (check files) or "scrape_config" (Prometheus jobs)
    uint64_t max_check_size = 256 << 10;
    bool datadog_paths = true;      // also answer the bare /api/v1/clusterchecks/... paths
};

// A [[proxy]] / [[sharding]] / [[dispatch]] table.
struct PipelineConfig {
    std::string kind;  // "proxy", ...
    std::string name;
    Position where;
    std::shared_ptr<const toml::table> table;
    std::vector<std::pair<std::string, std::string>> discovery_refs;  // (key, discovery name)
    std::vector<std::pair<std::string, std::string>> sink_refs;       // (key, [[sink]] name)
    std::vector<PluginRef> plugin_refs;
    std::optional<ProxyConfig> proxy;  // for kind "proxy"
    std::optional<ShardingConfig> sharding;  // for kind "sharding"
    std::optional<DispatchConfig> dispatch;  // for kind "dispatch"
    Position position_of(std::string_view key_path) const;
    // An inline table inside this one ("strategy", "affinity[1]"), kept alive with the document.
    std::shared_ptr<const toml::table> subtable(std::string_view key_path) const;
    std::string fingerprint() const;   // equal = nothing to restart on reload
};

struct Config {
    std::string file;  // as given, for messages
    std::filesystem::path base_dir;
    HostConfig host;
    std::vector<InstanceConfig> instances;
    std::vector<PipelineConfig> pipelines;

    const InstanceConfig* find(herd_kind kind, const std::string& name) const;
    // The KV store used when none is named: the only [[kv]] or, in a file without any, the
    // embedded store (kv_sqlite, instance "default", its file in data_dir). nullopt when the
    // file defines several; *why says which.
    std::optional<InstanceConfig> default_kv(std::string* why) const;
    // The store a pipeline uses: the [[kv]] its `kv` key names, else the default one. nullopt with
    // *error at the key (or the table) when there is none.
    std::optional<InstanceConfig> pipeline_kv(const PipelineConfig& pc, const std::string& kv, Diagnostic* error) const;
    Diagnostic at(const InstanceConfig& inst, std::string_view key, std::string message) const {
        return {file, inst.position_of(key), std::move(message)};
    }
};

struct LoadResult {
    std::optional<Config> config;  // set only when there are no diagnostics
    Diagnostics errors;
};

// Parses and validates the file's structure (not plugins: see the resolver).
// default_plugin_dir is used when [host] plugin_dir is absent.
LoadResult load_file(const std::filesystem::path& file, const std::filesystem::path& default_plugin_dir);
LoadResult load_text(std::string_view text, const std::string& file_name, const std::filesystem::path& base_dir,
                     const std::filesystem::path& default_plugin_dir);

}  // namespace herd::config

// The running host: config, plugins, instances, discovery, admin HTTP, signals and reload.
#pragma once

#include "admin/http_server.hpp"
#include "config/config.hpp"
#include "discovery/manager.hpp"
#include "plugins/plugin_registry.hpp"
#include "admin/status_snapshot.hpp"
#include "pipeline/pipeline.hpp"
#include "runtime/discovery_runner.hpp"

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace herd::runtime {

struct AppOptions {
    std::filesystem::path config_file;
    std::filesystem::path default_plugin_dir;
    bool isolate = true;
    std::string log_level_override;  // from the command line; wins over [host] log_level
};

class App {
public:
    explicit App(AppOptions opts);
    ~App();

    // Loads, starts and serves until SIGTERM/SIGINT; SIGHUP reloads. Returns the exit code.
    // The caller must have blocked SIGTERM, SIGINT and SIGHUP in every thread (see block_signals).
    int run();

    // Applies the config file again. Returns false (and keeps everything running) on any error.
    bool reload();

    admin::StatusSnapshot status() const;
    admin::Response handle(const admin::Request& req) const;

    discovery::Manager& discovery() { return discovery_; }

private:
    struct Running {
        config::InstanceConfig cfg;
        std::unique_ptr<plugins::Instance> instance;  // kv instances (no runner)
        std::unique_ptr<DiscoveryRunner> runner;      // discovery instances
        std::string error;                            // why it does not run
    };
    using Key = std::pair<herd_kind, std::string>;
    struct RunningPipeline {
        config::PipelineConfig cfg;
        // Shared: the admin thread holds one while a pipeline's route answers, and a reload may
        // retire the pipeline meanwhile (it is stopped explicitly, freed by the last holder).
        std::shared_ptr<pipeline::Pipeline> pipeline;
        std::string error;  // why it does not run
    };
    // Pipelines of cfg that are new or changed compared with `old`, created and started.
    std::map<std::string, RunningPipeline> build_pipelines(const config::Config& cfg,
                                                           const std::map<std::string, RunningPipeline>* old,
                                                           config::Diagnostics* errors, bool tolerate_failures);

    // Creates the instances of cfg; on failure fills errors. Unchanged ones are taken from `old`.
    std::map<Key, Running> build(const config::Config& cfg, std::map<Key, Running>* old, config::Diagnostics* errors,
                                 bool tolerate_failures);
    void start_new(std::map<Key, Running>& set);
    void apply_log_level(const config::Config& cfg);
    void publish_instance_metrics();  // mu_ held
    admin::StatusSnapshot status_locked() const;

    AppOptions opts_;
    plugins::PluginRegistry registry_;
    discovery::Manager discovery_;

    // Held for a whole reload (and the first start), never by the admin endpoints: only its
    // holder changes running_ and pipelines_, so it may read them without mu_.
    std::mutex reload_mu_;
    mutable std::mutex mu_;  // guards everything below; held only for short reads and swaps
    std::optional<config::Config> config_;
    std::map<Key, Running> running_;
    std::map<std::string, RunningPipeline> pipelines_;  // by name
    std::unique_ptr<admin::HttpServer> admin_;
    std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();
    std::chrono::system_clock::time_point last_reload_{};
    bool last_reload_ok_ = true;
    std::string last_reload_error_;
    bool started_ = false;
};

// Blocks the signals herd handles so that only sigwait() sees them. Call before any thread starts.
void block_signals();

}  // namespace herd::runtime

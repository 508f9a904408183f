// A [[proxy]] pipeline: its strategy and affinity instances, the backends its discovery instances
// find, the selection loop and the HTTP engine in front of them.
#pragma once

#include "config/config.hpp"
#include "discovery/manager.hpp"
#include "pipeline/pipeline.hpp"
#include "plugins/instance.hpp"
#include "proxy/backend_table.hpp"
#include "proxy/proxy_server.hpp"
#include "proxy/proxy_status.hpp"
#include "proxy/selection_loop.hpp"

#include <memory>
#include <string>
#include <vector>

namespace herd::proxy {

class ProxyPipeline final : public pipeline::Pipeline {
public:
    ~ProxyPipeline() override;

    // Creates the strategy and affinity instances; on failure returns null with *error set.
    static std::unique_ptr<ProxyPipeline> create(const config::PipelineConfig& pc, plugins::InstanceBuilder& builder,
                                                 discovery::Manager& discovery, metrics::Registry& registry,
                                                 config::Diagnostic* error);

    // Subscribes to discovery, makes the first selection, then listens — on the listening sockets
    // of the proxy it replaces when that one listens on the same address (nothing waiting in the
    // backlog is lost, and there is no moment without a listener). "" or why it failed.
    std::string start(pipeline::Pipeline* replacing) override;
    std::string start_on(std::vector<int> inherited);
    std::vector<int> listener_fds() const;
    // Stops listening, finishes requests in flight, stops selecting, unsubscribes.
    void stop() override;
    pipeline::Summary summary() const override;
    std::string status_html() const override { return render_proxy_section(status()); }

    bool ready() const;
    uint16_t port() const;
    const config::PipelineConfig& config() const { return pc_; }
    ProxyRow status() const;

    // The mpp-compatible endpoints (when mpp_endpoints = true).
    std::optional<LocalResponse> mpp_endpoint(const std::string& path) const;

private:
    ProxyPipeline(const config::PipelineConfig& pc, discovery::Manager& discovery, metrics::Registry& registry);
    void attach_metrics(Backend& b);

    config::PipelineConfig pc_;
    config::ProxyConfig cfg_;
    discovery::Manager& discovery_;
    metrics::Registry& registry_;
    std::unique_ptr<plugins::Instance> selector_;
    std::vector<std::unique_ptr<plugins::Instance>> affinity_;
    BackendTable table_;
    SelectionSource selection_;
    std::unique_ptr<SelectionLoop> loop_;
    std::unique_ptr<ProxyServer> server_;
    std::vector<uint64_t> subscriptions_;
    std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();
    bool started_ = false;
};

// The instance a pipeline's strategy or affinity entry stands for (for create and for `check`).
config::InstanceConfig plugin_instance_config(const config::PipelineConfig& pc, const config::PluginRef& ref);

// [[proxy]] in the runtime's table of pipeline kinds.
pipeline::Factory factory();

}  // namespace herd::proxy

// Runs one discovery instance: hands it a sink that feeds the discovery manager.
#pragma once

#include "discovery/manager.hpp"
#include "plugins/instance.hpp"

#include <memory>
#include <string>

namespace herd::runtime {

class DiscoveryRunner {
public:
    DiscoveryRunner(std::unique_ptr<plugins::Instance> instance, discovery::Manager& manager);
    ~DiscoveryRunner();  // stops if started

    // Returns "" on success, else the plugin's reason.
    std::string start();
    void stop();
    const plugins::Instance& instance() const { return *instance_; }

private:
    std::unique_ptr<plugins::Instance> instance_;
    discovery::Manager& manager_;
    herd_discovery_sink sink_{};
    bool started_ = false;
};

}  // namespace herd::runtime

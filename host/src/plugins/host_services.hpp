// The host side of herd_host_api: one table per library (logs as the plugin's name) and one per
// instance (logs as "plugin/instance"). Tables live at stable addresses as long as their owner.
#pragma once

#include <herd/plugin_api.h>

#include <memory>
#include <string>

namespace herd::metrics {
class Registry;
}

namespace herd::plugins {

class HostServices {
public:
    HostServices(std::string log_name, metrics::Registry& registry);
    HostServices(const HostServices&) = delete;
    HostServices& operator=(const HostServices&) = delete;

    const herd_host_api* api() const noexcept { return &api_; }
    const std::string& log_name() const noexcept { return log_name_; }
    metrics::Registry& registry() const noexcept { return registry_; }

private:
    std::string log_name_;
    metrics::Registry& registry_;
    herd_host_api api_{};
};

// Collects what a plugin reports through herd_error_out.
struct ErrorCapture {
    ErrorCapture();
    herd_error_out out{};
    std::string message;
    std::string key;  // the configuration key the error is about, if any
    bool set = false;
    herd_error_out* get() noexcept { return &out; }
};

// "INVALID_ARGUMENT", "CONFLICT"... for messages.
const char* status_name(herd_status s) noexcept;

}  // namespace herd::plugins

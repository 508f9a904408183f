// The host's services as a small C++ value: logging, clocks, metrics.
#pragma once

#include <herd/plugin_api.h>
#include <herd/sdk/error.hpp>

#include <chrono>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace herd::sdk {

// A counter or gauge series. Cheap to copy; updating it is lock-free (safe on the hot path).
class Series {
public:
    Series() = default;
    Series(const herd_host_api* api, herd_metric_series* s) : api_(api), series_(s) {}
    void add(double delta = 1.0) const noexcept {
        if (series_) api_->metric_add(api_->ctx, series_, delta);
    }
    void set(double value) const noexcept {
        if (series_) api_->metric_set(api_->ctx, series_, value);
    }

private:
    const herd_host_api* api_ = nullptr;
    herd_metric_series* series_ = nullptr;
};

// A metric family; with(...) gives the series for some label values.
class Family {
public:
    Family() = default;
    Family(const herd_host_api* api, herd_metric_family* f) : api_(api), family_(f) {}
    Series with(std::initializer_list<std::string_view> values = {}) const {
        std::vector<herd_str> v;
        v.reserve(values.size());
        for (auto s : values) v.push_back(to_str(s));
        return Series(api_, api_->metric_series(api_->ctx, family_, v.data(), v.size()));
    }

private:
    const herd_host_api* api_ = nullptr;
    herd_metric_family* family_ = nullptr;
};

class Host {
public:
    Host() = default;
    explicit Host(const herd_host_api* api) : api_(api) {}
    const herd_host_api* raw() const noexcept { return api_; }

    void log(herd_log_level level, std::string_view message) const noexcept {
        if (api_ && api_->log) api_->log(api_->ctx, level, to_str(message));
    }
    bool enabled(herd_log_level level) const noexcept {
        return api_ && api_->log_level && level >= api_->log_level(api_->ctx);
    }
    void trace(std::string_view m) const noexcept { log(HERD_LOG_TRACE, m); }
    void debug(std::string_view m) const noexcept { log(HERD_LOG_DEBUG, m); }
    void info(std::string_view m) const noexcept { log(HERD_LOG_INFO, m); }
    void warn(std::string_view m) const noexcept { log(HERD_LOG_WARN, m); }
    void error(std::string_view m) const noexcept { log(HERD_LOG_ERROR, m); }

    std::chrono::system_clock::time_point now() const noexcept {
        return std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds(api_->now_unix_ns(api_->ctx))));
    }
    std::chrono::nanoseconds monotonic() const noexcept {
        return std::chrono::nanoseconds(api_->monotonic_ns(api_->ctx));
    }

    // Throws Error when the host refuses the family (bad name, clash with another definition).
    Family counter(std::string_view name, std::string_view help,
                   std::initializer_list<std::string_view> labels = {}) const {
        return family(HERD_METRIC_COUNTER, name, help, labels);
    }
    Family gauge(std::string_view name, std::string_view help,
                 std::initializer_list<std::string_view> labels = {}) const {
        return family(HERD_METRIC_GAUGE, name, help, labels);
    }

private:
    Family family(herd_metric_type type, std::string_view name, std::string_view help,
                  std::initializer_list<std::string_view> labels) const {
        std::vector<herd_str> names;
        for (auto l : labels) names.push_back(to_str(l));
        herd_metric_desc d{};
        d.header = {sizeof(d), HERD_ABI_MAJOR, HERD_ABI_MINOR};
        d.name = to_str(name);
        d.help = to_str(help);
        d.type = type;
        d.label_names = names.data();
        d.label_count = names.size();
        std::string why;
        herd_error_out err{{sizeof(herd_error_out), HERD_ABI_MAJOR, HERD_ABI_MINOR}, &why,
                           [](void* c, herd_str m) { static_cast<std::string*>(c)->assign(m.data, m.size); },
                           nullptr};
        herd_metric_family* f = api_->metric_family(api_->ctx, &d, &err);
        if (!f) throw Error(HERD_ERR_INVALID_ARGUMENT, "metric " + std::string(name) + ": " + why);
        return Family(api_, f);
    }

    const herd_host_api* api_ = nullptr;
};

// What a factory's constructor receives.
struct CreateContext {
    Host host;
    std::string instance_name;
    std::string config_json;
    std::string data_dir;
    std::string config_dir;  // resolve relative paths in the configuration against this

    // A path from the configuration as the plugin should open it: "" stays "", "/abs" as written,
    // "~/x" under $HOME, anything else relative to the configuration file's directory.
    std::string path(const std::string& p) const {
        if (p.empty() || p.front() == '/') return p;
        if (p.rfind("~/", 0) == 0)
            if (const char* home = std::getenv("HOME")) return std::string(home) + p.substr(1);
        return config_dir + "/" + p;
    }
};

}  // namespace herd::sdk

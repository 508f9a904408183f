// Real Prometheus servers (Debian's package) for end-to-end tests: each scrapes itself every
// second, on a free loopback port, in a temporary directory; killed when the object goes.
#pragma once

#include "support.hpp"

#include <memory>
#include <optional>
#include <string>

namespace herd::test {

class PrometheusReplica {
public:
    explicit PrometheusReplica(const std::string& name);
    // Runs with `config_file` (written by the caller before) instead of a file of its own.
    PrometheusReplica(const std::string& name, const fs::path& config_file);
    void restart();  // after kill(): the same port, the same data
    int pid() const { return proc_ ? proc_->pid() : -1; }
    const TempDir& dir() const { return dir_; }
    uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string id() const { return "http://" + address(); }  // as herd names backends

    bool wait_ready(std::chrono::milliseconds deadline = std::chrono::seconds(60));
    // One of its own metrics, read from /metrics (nullopt when it does not answer).
    std::optional<double> metric(const std::string& series) const;
    // Seconds of data it holds: now - prometheus_tsdb_lowest_timestamp_seconds.
    std::optional<double> history_seconds() const;
    void kill();  // SIGKILL
    bool running() { return proc_ && proc_->running(); }

private:
    void start();
    TempDir dir_;
    uint16_t port_;
    std::string name_;
    fs::path config_;
    std::unique_ptr<Process> proc_;
};

}  // namespace herd::test

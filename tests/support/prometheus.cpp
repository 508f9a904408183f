#include "prometheus.hpp"

#include <csignal>

namespace herd::test {

PrometheusReplica::PrometheusReplica(const std::string& name) : port_(free_port()), name_(name) {
    config_ = dir_ / "prometheus.yml";
    write_file(config_, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                        "  - job_name: self\n    static_configs:\n      - targets: ['" +
                            address() + "']\n");
    start();
}

PrometheusReplica::PrometheusReplica(const std::string& name, const fs::path& config_file)
    : port_(free_port()), name_(name), config_(config_file) {
    start();
}

void PrometheusReplica::start() {
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + config_.string(),
                                 "--storage.tsdb.path=" + (dir_ / "data").string(),
                                 "--web.listen-address=" + address(), "--web.enable-lifecycle"},
        dir_.path(), name_);
}

void PrometheusReplica::restart() {
    kill();
    start();
}

bool PrometheusReplica::wait_ready(std::chrono::milliseconds deadline) {
    return eventually([&] { return http_get(port_, "/-/ready").status == 200; }, deadline);
}

std::optional<double> PrometheusReplica::metric(const std::string& series) const {
    auto r = http_get(port_, "/metrics");
    if (r.status != 200) return std::nullopt;
    return test::metric(r.body, series);
}

std::optional<double> PrometheusReplica::history_seconds() const {
    auto lowest = metric("prometheus_tsdb_lowest_timestamp_seconds");
    if (!lowest) return std::nullopt;
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() - *lowest;
}

void PrometheusReplica::kill() {
    if (proc_) {
        proc_->signal(SIGKILL);
        proc_->wait(std::chrono::seconds(10));
    }
}

}  // namespace herd::test

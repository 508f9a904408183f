// The Prometheus a sink_prometheus instance drives: reload it (POST /-/reload or a signal) and
// confirm through its own metrics that it took the new file — prometheus_config_last_reload_
// successful is 1 and the success timestamp moved — or say that it refused it.
#pragma once

#include "agent_reload.hpp"
#include "curl_http.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace herd::sink_prometheus {

struct ReloadState {
    bool successful = false;
    double success_timestamp = 0;
};

class PrometheusAgent {
public:
    PrometheusAgent(agent::ReloadConfig reload, std::string metrics_url, std::string query_url);
    // Throws sdk::Error(HERD_ERR_UNAVAILABLE) when Prometheus does not answer.
    ReloadState state();
    // Reloads and waits for the confirmation. Throws sdk::Error: INVALID_ARGUMENT when Prometheus
    // refused the file (with its reason when it gave one), UNAVAILABLE / TIMEOUT otherwise.
    void reload_and_confirm(const ReloadState& before);
    // Samples each job scraped last time: sum by (job) (scrape_samples_scraped).
    std::map<std::string, double> samples_by_job();
    const std::string& metrics_url() const { return metrics_url_; }

private:
    agent::ReloadConfig reload_;
    std::string metrics_url_, query_url_;
    net::HttpClient http_;
};

// Runs `promtool check config FILE`: "" when it passes, else what promtool said.
std::string promtool_check(const std::string& promtool, const std::string& file);

}  // namespace herd::sink_prometheus

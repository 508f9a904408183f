#include "prometheus_agent.hpp"

#include <herd/sdk/error.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <sstream>
#include <thread>

namespace herd::sink_prometheus {

PrometheusAgent::PrometheusAgent(agent::ReloadConfig reload, std::string metrics_url, std::string query_url)
    : reload_(std::move(reload)), metrics_url_(std::move(metrics_url)), query_url_(std::move(query_url)) {}

ReloadState PrometheusAgent::state() {
    net::HttpRequest req;
    req.url = metrics_url_;
    req.timeout = reload_.timeout;
    auto res = http_.perform(req);
    if (res.status != 200)
        throw sdk::Error(HERD_ERR_UNAVAILABLE, "GET " + metrics_url_ + " answered " + std::to_string(res.status));
    ReloadState s;
    bool seen = false;
    std::istringstream in(res.body);
    for (std::string line; std::getline(in, line);) {
        auto value = [&](const char* name) -> std::optional<double> {
            const std::string n(name);
            if (line.compare(0, n.size(), n) != 0 || line.size() <= n.size() || line[n.size()] != ' ') return std::nullopt;
            return std::stod(line.substr(n.size() + 1));
        };
        if (auto v = value("prometheus_config_last_reload_successful")) {
            s.successful = *v == 1;
            seen = true;
        }
        if (auto v = value("prometheus_config_last_reload_success_timestamp_seconds")) s.success_timestamp = *v;
    }
    if (!seen)
        throw sdk::Error(HERD_ERR_UNAVAILABLE, metrics_url_ + " has no prometheus_config_last_reload_successful: "
                                               "is this Prometheus' own /metrics?");
    return s;
}

void PrometheusAgent::reload_and_confirm(const ReloadState& before) {
    agent::reload(reload_, http_);  // POST: 2.42 answers only after the reload, 500 with the reason on failure
    const auto deadline = std::chrono::steady_clock::now() + reload_.timeout;
    for (auto pause = std::chrono::milliseconds(5);; pause = std::min(pause * 2, std::chrono::milliseconds(200))) {
        auto s = state();
        if (s.successful && s.success_timestamp > before.success_timestamp) return;
        if (!s.successful && before.successful)  // it went from good to refused: ours was refused
            throw sdk::Error(HERD_ERR_INVALID_ARGUMENT,
                             "Prometheus refused the configuration (prometheus_config_last_reload_successful is 0; "
                             "its log says why)");
        if (std::chrono::steady_clock::now() > deadline)
            throw sdk::Error(HERD_ERR_TIMEOUT, "Prometheus did not confirm the reload within " +
                                                   std::to_string(reload_.timeout.count()) + " ms (" + metrics_url_ + ")");
        std::this_thread::sleep_for(pause);  // the signal variant reloads asynchronously
    }
}

std::map<std::string, double> PrometheusAgent::samples_by_job() {
    net::HttpRequest req;
    req.url = query_url_ + "?query=sum%20by%20(job)%20(scrape_samples_scraped)";
    req.timeout = reload_.timeout;
    auto res = http_.perform(req);
    if (res.status != 200) throw sdk::Error(HERD_ERR_UNAVAILABLE, "GET " + req.url + " answered " + std::to_string(res.status));
    std::map<std::string, double> out;
    try {
        auto j = nlohmann::json::parse(res.body);
        for (const auto& r : j.at("data").at("result"))
            out[r.at("metric").value("job", "")] = std::stod(r.at("value").at(1).get<std::string>());
    } catch (const std::exception& e) {
        throw sdk::Error(HERD_ERR_UNAVAILABLE, "unexpected answer from " + query_url_ + ": " + e.what());
    }
    return out;
}

std::string promtool_check(const std::string& promtool, const std::string& file) {
    auto quote = [](const std::string& s) {
        std::string q = "'";
        for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    };
    const std::string cmd = quote(promtool) + " check config " + quote(file) + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return "cannot run " + promtool;
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    const int rc = ::pclose(p);
    if (rc == 0) return {};
    // promtool's useful line is the FAILED one: "  FAILED: parsing YAML file ...: ..."
    auto at = out.find("FAILED");
    std::string why = at == std::string::npos ? out : out.substr(at);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    for (char& c : why)
        if (c == '\n') c = ' ';
    return why.empty() ? "promtool check config failed" : why;
}

}  // namespace herd::sink_prometheus

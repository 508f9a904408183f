// mpp-compatible endpoints on the proxy's own listener (mpp_endpoints = true), so dashboards and
// probes written for mpp keep working: /mpp/health, /mpp/metrics (mpp_* names), /mpp/status.
#include "admin/status_page.hpp"
#include "metrics/registry.hpp"
#include "proxy/proxy_pipeline.hpp"
#include "version.hpp"

#include <cmath>

namespace herd::proxy {

std::optional<LocalResponse> ProxyPipeline::mpp_endpoint(const std::string& path) const {
    if (path == "/mpp/health") return LocalResponse{200, "text/plain; charset=utf-8", "OK"};
    if (path != "/mpp/metrics" && path != "/mpp/status") return std::nullopt;
    const auto row = status();

    if (path == "/mpp/metrics") {
        std::string m;
        auto line = [&](const std::string& name, const std::string& type, const std::string& help) {
            m += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        };
        line("mpp_build_info", "gauge", "Build information (served by herd).");
        m += "mpp_build_info{version=\"herd-" HERD_VERSION "\"} 1\n";
        line("mpp_selected_backends", "gauge", "Backends currently selected.");
        size_t selected = 0;
        for (const auto& b : row.backends) selected += b.eligible;
        m += "mpp_selected_backends " + std::to_string(selected) + "\n";
        line("mpp_selection_events", "counter", "Selections made.");
        double events = 0;
        for (const char* r : {"changed", "unchanged", "kept_previous", "none", "error"})
            events += registry_.counter("herd_proxy_selection_events_total", "", {"proxy", "result"}).with({pc_.name, r}).value();
        m += "mpp_selection_events " + metrics::format_value(events) + "\n";
        line("mpp_requests", "counter", "Requests per backend.");
        for (const auto& b : row.backends)
            m += "mpp_requests{backend=\"" + metrics::escape_label_value(b.id) + "\"} " + metrics::format_value(b.requests) + "\n";
        line("mpp_retries", "counter", "Retries per backend.");
        auto& retries = registry_.counter("herd_proxy_retries_total", "", {"proxy", "backend"});
        for (const auto& b : row.backends)
            m += "mpp_retries{backend=\"" + metrics::escape_label_value(b.id) + "\"} " +
                 metrics::format_value(retries.with({pc_.name, b.id}).value()) + "\n";
        line("mpp_response_milliseconds", "counter", "Summed response time per backend, in milliseconds.");
        auto& latency = registry_.histogram("herd_proxy_request_duration_seconds", "", {"proxy", "backend"},
                                            metrics::latency_buckets());
        for (const auto& b : row.backends)
            m += "mpp_response_milliseconds{backend=\"" + metrics::escape_label_value(b.id) + "\"} " +
                 metrics::format_value(std::round(latency.with({pc_.name, b.id}).sum() * 1000)) + "\n";
        line("mpp_affinity_hits", "counter", "Requests routed by affinity, per type.");
        for (const auto& a : row.affinity) {
            const std::string type = a == "cookie" ? "cookies" : a;
            m += "mpp_affinity_hits{type=\"" + type + "\"} " +
                 metrics::format_value(registry_.counter("herd_proxy_affinity_hits_total", "", {"proxy", "module"})
                                           .with({pc_.name, a})
                                           .value()) +
                 "\n";
        }
        return LocalResponse{200, "text/plain; version=0.0.4; charset=utf-8", std::move(m)};
    }

    // /mpp/status: the page mpp users know, with herd's figures.
    const auto e = admin::html_escape;
    std::string h = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Multi-Prometheus Proxy Cluster Info</title>"
                    "<style>body{font:14px sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}</style></head><body>"
                    "<h1>Multi-Prometheus Proxy Cluster Info</h1><table>";
    h += "<tr><th>Uptime</th><td>" + admin::format_age(std::chrono::system_clock::now() - started_at_) + "</td></tr>";
    h += "<tr><th>Strategy</th><td>" + e(row.strategy) + "</td></tr>";
    h += "<tr><th>Selection interval</th><td>" + e(row.interval) + "</td></tr>";
    std::string aff;
    for (const auto& a : row.affinity) aff += (aff.empty() ? "" : ", ") + a;
    h += "<tr><th>Affinity</th><td>" + e(aff.empty() ? "none" : aff) + "</td></tr>";
    h += "<tr><th>Build</th><td>herd " HERD_VERSION "</td></tr></table><h2>Endpoints</h2><table>"
         "<tr><th>endpoint</th><th>selected</th><th>uptime</th><th>comparison value</th></tr>";
    for (const auto& b : row.backends) {
        h += "<tr><td><a href=\"" + e(b.id) + "\">" + e(b.id) + "</a></td><td>" + (b.eligible ? "yes" : "no") + "</td><td>" +
             (b.uptime_s >= 0 ? admin::format_age(std::chrono::seconds(static_cast<long long>(b.uptime_s))) : "?") +
             "</td><td>" + (std::isnan(b.score) ? std::string("-") : metrics::format_value(b.score)) + "</td></tr>";
    }
    h += "</table></body></html>\n";
    return LocalResponse{200, "text/html; charset=utf-8", std::move(h)};
}

}  // namespace herd::proxy

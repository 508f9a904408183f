#include "admin/html.hpp"
#include "proxy/proxy_status.hpp"

namespace herd::proxy {

std::string render_proxy_section(const ProxyRow& p) {
    using std::string;
    using admin::badge;
    using admin::format_age;
    using admin::when;
    const auto e = admin::html_escape;
    string h;
    string aff;
    for (const auto& a : p.affinity) aff += (aff.empty() ? "" : ", ") + e(a);
    h += "<h3>proxy <b>" + e(p.name) + "</b> on <code>" + e(p.listen) + "</code> " + badge(p.state) + "</h3>";
    if (!p.error.empty()) h += "<p class=\"err\">" + e(p.error) + "</p>";
    h += "<p>strategy <b>" + e(p.strategy) + "</b> every " + e(p.interval) + " · affinity " +
         (aff.empty() ? string("none") : aff) + " · retries " + std::to_string(p.retries) + " · last selection " +
         when(p.last_selection) + (p.last_result.empty() ? "" : " (" + e(p.last_result) + ")") + "</p>";
    if (!p.selection_error.empty()) h += "<p class=\"err\">" + e(p.selection_error) + "</p>";
    if (p.backends.empty()) {
        h += "<p class=\"muted\">No backends discovered.</p>";
        return h;
    }
    h += "<table><tr><th>backend</th><th>eligible</th><th>ready</th><th>uptime</th><th>history</th>"
         "<th>comparison value</th><th>requests</th><th>errors</th></tr>";
    for (const auto& b : p.backends) {
        auto age = [](double secs) {
            return secs < 0 ? string("?") : format_age(std::chrono::seconds(static_cast<long long>(secs)));
        };
        string score = b.score != b.score ? "–" : std::to_string(static_cast<long long>(b.score));
        h += "<tr><td><code>" + e(b.id) + "</code>";
        if (!b.error.empty()) h += "<div class=\"err\">" + e(b.error) + "</div>";
        h += "</td><td>" + badge(b.eligible ? "eligible" : "no") + (b.ejected ? " " + badge("ejected") : "") +
             "</td><td>" + badge(b.ready ? "ready" : "not ready") + "</td><td>" + age(b.uptime_s) + "</td><td>" +
             age(b.history_s) + "</td><td>" + score + "</td><td>" + std::to_string(static_cast<long long>(b.requests)) +
             "</td><td>" + std::to_string(static_cast<long long>(b.errors)) + "</td></tr>";
    }
    h += "</table>";

    return h;
}

}  // namespace herd::proxy

// The dispatch pipeline's /status section: who leads (term, since when), the nodes with their
// heartbeat age, load and checks — with a bar chart of the nodes' loads —, dangling checks, and
// the last rebalance with what it moved.
#include "admin/html.hpp"
#include "dispatch/dispatch_pipeline.hpp"

#include <nlohmann/json.hpp>

namespace herd::dispatch {

namespace {

std::string fmt(double v) {
    char b[32];
    std::snprintf(b, sizeof b, v == static_cast<int64_t>(v) ? "%.0f" : "%.1f", v);
    return b;
}

// Horizontal bars, one per node: what a person compares at a glance.
std::string load_chart(const std::vector<std::pair<std::string, double>>& loads) {
    double max = 0;
    for (const auto& [n, l] : loads) max = std::max(max, l);
    if (loads.empty() || max <= 0) return {};
    const int row = 18, width = 360, label = 140;
    std::string svg = "<svg role=\"img\" aria-label=\"load per node\" width=\"" + std::to_string(label + width + 60) + "\" height=\"" +
                      std::to_string(row * loads.size() + 4) + "\">";
    int y = 2;
    for (const auto& [n, l] : loads) {
        const int w = static_cast<int>(width * l / max);
        svg += "<text x=\"0\" y=\"" + std::to_string(y + 13) + "\" font-size=\"12\">" + admin::html_escape(n) + "</text>";
        svg += "<rect x=\"" + std::to_string(label) + "\" y=\"" + std::to_string(y) + "\" width=\"" + std::to_string(std::max(w, 1)) +
               "\" height=\"" + std::to_string(row - 4) + "\" fill=\"#4a7fb5\"/>";
        svg += "<text x=\"" + std::to_string(label + w + 4) + "\" y=\"" + std::to_string(y + 13) + "\" font-size=\"12\">" + fmt(l) + "</text>";
        y += row;
    }
    return svg + "</svg>";
}

}  // namespace

std::string DispatchPipeline::status_html() const {
    const auto e = admin::html_escape;
    std::string h = "<h3>dispatch <b>" + e(pc_.name) + "</b> — <code>" + e(node_id_) + "</code> " +
                    admin::badge(leading() ? "leading" : cfg_.leader ? "following" : "node") + "</h3>";
    if (cfg_.leader) {
        std::lock_guard lk(mu_);
        if (leading()) {
            h += "<p>leader since " + e(admin::when(since_)) + ", term " + std::to_string(term_) + "</p>";
        } else if (election_) {
            int64_t term = 0;
            auto who = election_->known_leader(&term);
            h += "<p>follower; leader: " + (who ? "<code>" + e(*who) + "</code>, term " + std::to_string(term) : std::string("none known")) + "</p>";
        }
        if (!store_error_.empty()) h += "<p class=\"err\">" + e(store_error_) + " — nodes keep what they run</p>";
        for (const auto& why : template_errors_) h += "<p class=\"err\">" + e(why) + "</p>";
        if (leading()) {
            const auto now = Clock::now();
            std::vector<std::pair<std::string, double>> loads;
            h += "<table><tr><th>node</th><th>heartbeat</th><th>load</th><th>checks</th><th>version</th></tr>";
            const auto all_loads = dispatcher_.loads();
            for (const auto& [name, n] : dispatcher_.nodes()) {
                const double load = all_loads.count(name) ? all_loads.at(name) : 0.0;
                loads.emplace_back(name, load);
                h += "<tr><td>" + e(name) + (n.address.empty() ? "" : " <small>" + e(n.address) + "</small>") + "</td><td>" +
                     (n.reported ? admin::format_age(std::chrono::duration_cast<std::chrono::system_clock::duration>(now - n.heartbeat)) + " ago"
                                 : std::string("none yet (known from the store)")) +
                     "</td><td>" + fmt(load) + "</td><td>" + std::to_string(dispatcher_.record_of(name).size()) + "</td><td>" +
                     (n.reported_version == dispatcher_.version_of(name) ? "up to date" : "fetching") + "</td></tr>";
            }
            h += "</table>" + load_chart(loads);
            const auto dangling = dispatcher_.dangling();
            h += "<p>" + std::to_string(dispatcher_.checks().size()) + " checks, " + std::to_string(dangling.size()) + " dangling" +
                 (dangling.empty() ? "" : " (no node yet)") + "</p>";
            if (!dangling.empty()) {
                h += "<ul>";
                for (size_t i = 0; i < dangling.size() && i < 20; ++i) h += "<li><code>" + e(dangling[i]) + "</code></li>";
                h += "</ul>";
            }
            if (last_rebalance_.when.time_since_epoch().count()) {
                h += "<p>last rebalance " + e(admin::when(last_rebalance_.when)) + " (" + e(last_rebalance_.why) + "): " + e(last_rebalance_.outcome) +
                     "; spread " + fmt(last_rebalance_.before) + " → " + fmt(last_rebalance_.after) + "</p>";
                if (!last_rebalance_.moves.empty()) {
                    h += "<ul>";
                    for (size_t i = 0; i < last_rebalance_.moves.size() && i < 20; ++i) {
                        const auto& m = last_rebalance_.moves[i];
                        h += "<li><code>" + e(m.check) + "</code> " + e(m.from) + " → " + e(m.to) + " (weight " + fmt(m.weight) + ")</li>";
                    }
                    h += "</ul>";
                }
            }
        }
        if (!events_.empty()) {
            h += "<p>leadership:</p><ul>";
            for (const auto& ev : events_) h += "<li>" + e(ev) + "</li>";
            h += "</ul>";
        }
    }
    if (node_) {
        auto st = node_->state();
        h += "<p>node: polls <code>" + e(st.server.empty() ? std::string("(none answered yet)") : st.server) + "</code>, runs " +
             std::to_string(st.checks) + " checks (version " + std::to_string(st.version) + "), last answer " +
             e(admin::when(st.last_ok)) + "</p>";
        if (!st.error.empty()) h += "<p class=\"err\">" + e(st.error) + " — it keeps running its checks</p>";
        for (const auto& [c, why] : st.refused) h += "<p class=\"err\">the agent refused " + e(c) + ": " + e(why) + "</p>";
    }
    return h;
}

}  // namespace herd::dispatch

#include "admin/status_page.hpp"

#include "admin/html.hpp"

#include <ctime>

namespace herd::admin {

std::string render_status_page(const StatusSnapshot& s) {
    using std::string;
    const auto e = html_escape;
    string h;
    h += "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>herd status</title>"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>"
         "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}"
         "h1{margin:0 0 .2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}"
         "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #eee;vertical-align:top}"
         "th{background:#f6f6f6}code{font-size:12px}.badge{padding:.1em .5em;border-radius:.6em;font-size:12px;color:#fff}"
         ".ok{background:#2e7d32}.warn{background:#ef6c00}.bad{background:#c62828}.err{color:#c62828}.muted{color:#777}"
         "</style></head><body>";
    h += "<h1>herd " + e(s.version) + " " + badge(s.ready ? "ready" : "not ready") + "</h1>";
    if (!s.ready) h += "<p class=\"err\">" + e(s.not_ready_reason) + "</p>";
    h += "<table><tr><th>uptime</th><td>" + format_age(std::chrono::system_clock::now() - s.started_at) +
         " (since " + when(s.started_at) + ")</td></tr>";
    h += "<tr><th>configuration</th><td><code>" + e(s.config_file) + "</code></td></tr>";
    h += "<tr><th>last reload</th><td>" + when(s.last_reload);
    if (s.last_reload.time_since_epoch().count() != 0)
        h += s.last_reload_ok ? " — applied" : " — <span class=\"err\">refused: " + e(s.last_reload_error) + "</span>";
    h += "</td></tr><tr><th>plugin directory</th><td><code>" + e(s.plugin_dir) + "</code></td></tr>";
    h += "<tr><th>admin</th><td><code>" + e(s.admin) +
         "</code> — <a href=\"/metrics\">/metrics</a> · <a href=\"/-/healthy\">/-/healthy</a> · <a href=\"/-/ready\">/-/ready</a></td></tr></table>";

    h += "<h2>Pipelines</h2>";
    if (s.pipelines.empty()) h += "<p class=\"muted\">No pipelines are configured.</p>";
    for (const auto& p : s.pipelines) {
        if (!p.html.empty()) {
            h += p.html;  // the pipeline's own section, headline included
            continue;
        }
        h += "<h3>" + e(p.kind) + " <b>" + e(p.name) + "</b> " + badge(p.state) + "</h3>";
        if (!p.error.empty()) h += "<p class=\"err\">" + e(p.error) + "</p>";
    }

    h += "<h2>Instances</h2>";
    if (s.instances.empty()) {
        h += "<p class=\"muted\">No [[kv]], [[discovery]] or [[sink]] instances are configured.</p>";
    } else {
        h += "<table><tr><th>kind</th><th>name</th><th>plugin</th><th>state</th><th>detail</th><th>last update</th></tr>";
        for (const auto& i : s.instances) {
            h += "<tr><td>" + e(i.kind) + "</td><td><b>" + e(i.name) + "</b></td><td>" + e(i.plugin) +
                 (i.factory.empty() || i.factory == i.plugin ? "" : " / " + e(i.factory)) + "</td><td>" + badge(i.state) +
                 "</td><td>" + e(i.detail);
            if (!i.error.empty()) h += "<div class=\"err\">" + e(i.error) + "</div>";
            if (!i.groups.empty()) {
                h += "<details><summary>targets</summary><table>";
                for (const auto& [source, addrs] : i.groups) {
                    string list;
                    for (const auto& a : addrs) list += (list.empty() ? "" : ", ") + e(a);
                    h += "<tr><td><code>" + e(source) + "</code></td><td>" + list + "</td></tr>";
                }
                h += "</table>";
                if (i.unlisted_targets) h += "<p class=\"muted\">and " + std::to_string(i.unlisted_targets) + " more</p>";
                h += "</details>";
            }
            h += "</td><td>" + (i.kind == "discovery" ? when(i.last_update) : string("")) + "</td></tr>";
        }
        h += "</table>";
    }

    h += "<h2>Plugins</h2>";
    if (s.plugins.empty()) {
        h += "<p class=\"muted\">No plugins loaded.</p>";
    } else {
        h += "<table><tr><th>name</th><th>version</th><th>ABI</th><th>provides</th><th>file</th></tr>";
        for (const auto& p : s.plugins) {
            string f;
            for (const auto& x : p.factories) f += (f.empty() ? "" : "<br>") + e(x);
            h += "<tr><td><b>" + e(p.name) + "</b><div class=\"muted\">" + e(p.description) + "</div></td><td>" +
                 e(p.version) + "</td><td>" + e(p.abi) + "</td><td>" + f + "</td><td><code>" + e(p.file) + "</code></td></tr>";
        }
        h += "</table>";
    }
    if (!s.refusals.empty()) {
        h += "<h2>Refused plugin files</h2><table><tr><th>file</th><th>why</th></tr>";
        for (const auto& r : s.refusals)
            h += "<tr><td><code>" + e(r.file) + "</code></td><td class=\"err\">" + e(r.reason) + "</td></tr>";
        h += "</table>";
    }
    h += "</body></html>\n";
    return h;
}

}  // namespace herd::admin

// What the App shows: the status snapshot and the admin routes.
#include "admin/status_page.hpp"
#include "metrics/registry.hpp"
#include "runtime/app.hpp"
#include "version.hpp"

namespace herd::runtime {

admin::StatusSnapshot App::status() const {
    std::lock_guard lk(mu_);
    return status_locked();
}

admin::StatusSnapshot App::status_locked() const {
    admin::StatusSnapshot s;
    s.version = HERD_VERSION;
    s.config_file = opts_.config_file.string();
    s.started_at = started_at_;
    s.last_reload = last_reload_;
    s.last_reload_ok = last_reload_ok_;
    s.last_reload_error = last_reload_error_;
    if (config_) s.plugin_dir = config_->host.plugin_dirs_text();
    if (admin_) s.admin = admin_->address();

    for (const auto& p : registry_.plugins()) {
        admin::PluginRow row{p->name, p->version, std::to_string(p->abi_major) + "." + std::to_string(p->abi_minor),
                      p->kinds(), p->file.string(), p->description, {}};
        for (const auto* f : p->factories) row.factories.push_back(std::string(plugins::kind_name(f->kind)) + " " + f->name);
        s.plugins.push_back(std::move(row));
    }
    for (const auto& r : registry_.refusals()) s.refusals.push_back({r.file.string(), r.reason});

    std::string not_ready;
    for (const auto& [key, r] : running_) {
        admin::InstanceRow row;
        row.kind = plugins::kind_name(key.first);
        row.name = key.second;
        row.plugin = r.cfg.plugin;
        row.factory = r.cfg.factory;
        if (!r.error.empty()) {
            row.state = "failed";
            row.error = r.error;
            not_ready += (not_ready.empty() ? "" : "; ") + row.kind + " \"" + row.name + "\" failed: " + r.error;
        } else if (r.runner) {
            row.factory = r.runner->instance().factory().name;
            auto ps = discovery_.status(key.second);
            if (ps) {
                row.state = discovery::state_name(ps->state);
                row.detail = std::to_string(ps->groups) + " groups, " + std::to_string(ps->targets) + " targets, " +
                             std::to_string(ps->updates) + " updates";
                if (ps->state == discovery::ProviderStatus::State::failing) row.error = ps->last_error;
                row.last_update = ps->last_update;
                size_t listed = 0;
                for (const auto& g : discovery_.groups(key.second)) {
                    std::vector<std::string> addrs;
                    for (const auto& t : g.targets) {
                        if (listed++ < admin::kMaxListedTargets)
                            addrs.push_back(t.at("__address__"));
                        else
                            ++row.unlisted_targets;
                    }
                    if (!addrs.empty()) row.groups.emplace_back(g.source, std::move(addrs));
                }
            } else {
                row.state = "stopped";
            }
        } else {
            row.state = "running";
            row.factory = r.instance->factory().name;
        }
        s.instances.push_back(std::move(row));
    }
    for (const auto& [name, p] : pipelines_) {
        admin::PipelineSection section{p.cfg.kind, name, "stopped", p.error, ""};
        if (!p.error.empty()) {
            section.state = "failed";
            not_ready += (not_ready.empty() ? "" : "; ") + p.cfg.kind + " \"" + name + "\" failed: " + p.error;
        } else if (p.pipeline) {
            auto sum = p.pipeline->summary();
            section.state = sum.state;
            section.html = p.pipeline->status_html();
            if (!sum.ready)
                not_ready += (not_ready.empty() ? "" : "; ") + p.cfg.kind + " \"" + name + "\" " + sum.not_ready_reason;
        }
        s.pipelines.push_back(std::move(section));
    }
    s.ready = started_ && not_ready.empty();
    s.not_ready_reason = !started_ ? "starting" : not_ready;
    return s;
}

admin::Response App::handle(const admin::Request& req) const {
    // Routes the pipelines contribute (their APIs) come first; the host's own are GET-only.
    {
        std::vector<std::shared_ptr<pipeline::Pipeline>> live;
        bool started;
        {
            std::lock_guard lk(mu_);
            started = started_;
            for (const auto& [name, p] : pipelines_)
                if (p.pipeline) live.push_back(p.pipeline);
        }
        for (const auto& p : live)
            if (auto r = p->handle(req)) return *r;
        // The admin listener is up before the pipelines are: an API call then is early, not wrong.
        if (!started && (req.path.rfind("/api/", 0) == 0 || req.path.rfind("/agent/", 0) == 0))
            return {503, "text/plain; charset=utf-8", "herd is starting: its pipelines are not running yet\n", {{"Retry-After", "1"}}};
    }
    if (req.method != "GET" && req.method != "HEAD")
        return {405, "text/plain; charset=utf-8", "only GET and HEAD are served here\n", {{"Allow", "GET, HEAD"}}};
    if (req.path == "/-/healthy") return {200, "text/plain; charset=utf-8", "herd is Healthy.\n", {}};
    if (req.path == "/-/ready") {
        auto s = status();
        if (s.ready) return {200, "text/plain; charset=utf-8", "herd is Ready.\n", {}};
        return {503, "text/plain; charset=utf-8", "herd is not ready: " + s.not_ready_reason + "\n", {}};
    }
    if (req.path == "/metrics")
        return {200, "text/plain; version=0.0.4; charset=utf-8", metrics::global().render(), {}};
    if (req.path == "/status" || req.path == "/")
        return {200, "text/html; charset=utf-8", admin::render_status_page(status()), {}};
    return {404, "text/plain; charset=utf-8", "not found: " + req.path + " (try /status, /metrics, /-/healthy, /-/ready)\n", {}};
}

}  // namespace herd::runtime

#include "runtime/app.hpp"

#include "metrics/process_metrics.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance_builder.hpp"
#include "runtime/pipelines.hpp"
#include "version.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <csignal>
#include <thread>

namespace herd::runtime {

namespace fs = std::filesystem;

void block_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

App::App(AppOptions opts)
    : opts_(std::move(opts)), registry_(metrics::global(), opts_.isolate), discovery_(metrics::global()) {}

App::~App() = default;

void App::apply_log_level(const config::Config& cfg) {
    const std::string& lvl = opts_.log_level_override.empty() ? cfg.host.log_level : opts_.log_level_override;
    spdlog::set_level(spdlog::level::from_str(lvl));
}

std::map<App::Key, App::Running> App::build(const config::Config& cfg, std::map<Key, Running>* old,
                                            config::Diagnostics* errors, bool tolerate_failures) {
    plugins::InstanceBuilder builder(cfg, registry_, {opts_.isolate, true});
    std::map<Key, Running> out;
    for (const auto& ic : cfg.instances) {
        Key key{ic.kind, ic.name};
        if (old) {
            auto it = old->find(key);
            if (it != old->end() && it->second.cfg.fingerprint() == ic.fingerprint() && it->second.error.empty())
                continue;  // unchanged: the caller keeps the running one
        }
        Running r;
        r.cfg = ic;
        config::Diagnostic d;
        auto inst = builder.build(ic, &d);
        if (!inst) {
            errors->push_back(d);
            if (!tolerate_failures) continue;
            r.error = d.message;
            spdlog::error("{}", d.str());
        } else if (ic.kind == HERD_KIND_DISCOVERY) {
            r.runner = std::make_unique<DiscoveryRunner>(std::move(inst), discovery_);
        } else {
            r.instance = std::move(inst);
        }
        out.emplace(key, std::move(r));
    }
    return out;
}

std::map<std::string, App::RunningPipeline> App::build_pipelines(const config::Config& cfg,
                                                                const std::map<std::string, RunningPipeline>* old,
                                                                config::Diagnostics* errors, bool tolerate_failures) {
    plugins::InstanceBuilder builder(cfg, registry_, {opts_.isolate, true});
    pipeline::Context ctx{cfg, builder, discovery_, metrics::global()};
    std::map<std::string, RunningPipeline> out;
    for (const auto& pc : cfg.pipelines) {
        const auto* factory = pipeline_factory(pc.kind);
        if (!factory) continue;  // check_pipelines refused the file already
        pipeline::Pipeline* replacing = nullptr;
        if (old) {
            auto it = old->find(pc.name);
            if (it != old->end() && it->second.cfg.fingerprint() == pc.fingerprint() && it->second.error.empty())
                continue;  // unchanged: the caller keeps the running one
            if (it != old->end() && it->second.cfg.kind == pc.kind) replacing = it->second.pipeline.get();
        }
        RunningPipeline r{pc, nullptr, {}};
        config::Diagnostic d;
        auto p = factory->create(pc, ctx, &d);
        if (p) {
            // Make-before-break: the new one starts while the one it replaces still runs.
            if (auto why = p->start(replacing); !why.empty()) {
                d = {cfg.file, pc.where, why};
                p.reset();
            }
        }
        if (!p) {
            errors->push_back(d);
            if (!tolerate_failures) continue;
            spdlog::error("{}", d.str());
            r.error = d.message;
        }
        r.pipeline = std::move(p);
        out.emplace(pc.name, std::move(r));
    }
    return out;
}

void App::start_new(std::map<Key, Running>& set) {
    for (auto& [key, r] : set) {
        if (!r.runner || !r.error.empty()) continue;
        if (auto why = r.runner->start(); !why.empty()) {
            r.error = "start failed: " + why;
            spdlog::error("discovery \"{}\" did not start: {}", key.second, why);
        } else {
            spdlog::info("discovery \"{}\" started ({} {})", key.second, r.cfg.plugin,
                         r.runner->instance().factory().name);
        }
    }
}

void App::publish_instance_metrics() {
    auto& up = metrics::global().gauge("herd_instance_up", "1 when a configured plugin instance runs, 0 when it failed.",
                                       {"kind", "name", "plugin"});
    for (const auto& [key, r] : running_)
        up.with({plugins::kind_name(key.first), key.second, r.cfg.plugin}).set(r.error.empty() ? 1 : 0);
    auto& pipeline_up = metrics::global().gauge("herd_pipeline_up", "1 when a configured pipeline serves, 0 when it failed.",
                                                {"kind", "name"});
    for (const auto& [name, p] : pipelines_) pipeline_up.with({p.cfg.kind, name}).set(p.error.empty() ? 1 : 0);
    auto ready = status_locked().ready;
    metrics::global().gauge("herd_ready", "1 when every configured component started.").with({}).set(ready ? 1 : 0);
}

int App::run() {
    auto loaded = config::load_file(opts_.config_file, opts_.default_plugin_dir);
    if (!loaded.config) {
        for (const auto& d : loaded.errors) spdlog::error("{}", d.str());
        spdlog::critical("configuration {} has {} error(s); nothing started", opts_.config_file.string(),
                         loaded.errors.size());
        return 1;
    }
    config::Config cfg = std::move(*loaded.config);
    apply_log_level(cfg);

    auto& reg = metrics::global();
    reg.gauge("herd_build_info", "herd's version and the plugin ABI it speaks.", {"version", "abi", "compiler"})
        .with({HERD_VERSION, std::to_string(HERD_ABI_MAJOR) + "." + std::to_string(HERD_ABI_MINOR), HERD_COMPILER})
        .set(1);
    reg.gauge("herd_start_time_seconds", "When this herd process started, seconds since the epoch.")
        .with({})
        .set(std::chrono::duration<double>(started_at_.time_since_epoch()).count());
    metrics::register_process_metrics(reg);

    std::error_code ec;
    fs::create_directories(cfg.host.data_dir, ec);
    if (ec) {
        spdlog::critical("{}: cannot create data_dir {}: {}", cfg.file, cfg.host.data_dir.string(), ec.message());
        return 1;
    }

    auto admin = std::make_unique<admin::HttpServer>([this](const admin::Request& r) { return handle(r); });
    try {
        admin->start(cfg.host.admin);
    } catch (const std::exception& e) {
        spdlog::critical("{} (another herd or program uses it: change [host] admin)", e.what());
        return 1;
    }

    registry_.set_load_probe_timeout(cfg.host.load_probe_timeout);
    for (const auto& d : cfg.host.plugin_dirs)
        if (!fs::is_directory(d)) spdlog::error("plugin_dir {} is not a directory: no plugins can be loaded from it", d.string());
    registry_.scan(cfg.host.plugin_dirs);
    if (auto errs = check_pipelines(cfg, registry_); !errs.empty()) {
        for (const auto& d : errs) spdlog::error("{}", d.str());
        spdlog::critical("configuration {} has {} error(s); nothing started", cfg.file, errs.size());
        return 1;
    }

    {
        std::lock_guard lk(mu_);
        admin_ = std::move(admin);
    }
    {
        // Built without mu_: probing plugins and starting proxies takes time, and the admin
        // endpoints (/-/ready says "starting" meanwhile) must answer all along.
        std::lock_guard reloading(reload_mu_);
        config::Diagnostics errors;
        auto running = build(cfg, nullptr, &errors, true);
        start_new(running);
        {
            std::lock_guard lk(mu_);
            running_ = std::move(running);
        }
        auto pipelines = build_pipelines(cfg, nullptr, &errors, true);
        std::lock_guard lk(mu_);
        pipelines_ = std::move(pipelines);
        config_ = std::move(cfg);
        started_ = true;
        publish_instance_metrics();
    }
    auto st = status();
    if (st.ready)
        spdlog::info("herd {} ready: admin on http://{} (status page: /status)", HERD_VERSION, st.admin);
    else
        spdlog::warn("herd {} serving on http://{} but not ready: {}", HERD_VERSION, st.admin, st.not_ready_reason);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            spdlog::info("SIGHUP: reloading {}", opts_.config_file.string());
            reload();
            continue;
        }
        spdlog::info("{}: draining and stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }

    // A plugin that hangs in stop() must not keep the process alive forever.
    auto drain = config_->host.drain_timeout;
    std::thread([drain] {
        std::this_thread::sleep_for(drain);
        spdlog::critical("drain did not finish within {} ms; exiting anyway", drain.count());
        std::_Exit(1);
    }).detach();

    std::unique_ptr<admin::HttpServer> server;
    {
        std::lock_guard lk(mu_);
        server = std::move(admin_);
    }
    std::map<std::string, RunningPipeline> stopping_pipelines;
    std::map<Key, Running> stopping;
    {
        std::lock_guard lk(mu_);
        stopping_pipelines.swap(pipelines_);
        stopping.swap(running_);
    }
    for (auto& [name, p] : stopping_pipelines)  // stop accepting, answer what is in flight
        if (p.pipeline) p.pipeline->stop();
    stopping_pipelines.clear();
    server->stop();              // the admin listener likewise
    stopping.clear();            // discovery runners stop, instances are destroyed
    spdlog::info("herd stopped");
    return 0;
}

bool App::reload() {
    auto& reg = metrics::global();
    auto& result = reg.counter("herd_config_reloads_total", "Configuration reloads by result.", {"result"});
    auto& ok_gauge = reg.gauge("herd_config_last_reload_successful", "1 when the last reload was applied.");
    auto refuse = [&](const std::string& why) {
        spdlog::error("reload refused, the previous configuration keeps running: {}", why);
        std::lock_guard lk(mu_);
        last_reload_ = std::chrono::system_clock::now();
        last_reload_ok_ = false;
        last_reload_error_ = why;
        result.with({"failure"}).add(1);
        ok_gauge.with({}).set(0);
        return false;
    };

    std::lock_guard reloading(reload_mu_);  // one reload at a time; the admin endpoints never take it
    auto loaded = config::load_file(opts_.config_file, opts_.default_plugin_dir);
    if (!loaded.config) {
        for (const auto& d : loaded.errors) spdlog::error("{}", d.str());
        return refuse(loaded.errors.front().str() +
                      (loaded.errors.size() > 1 ? " (and " + std::to_string(loaded.errors.size() - 1) + " more)" : ""));
    }
    config::Config cfg = std::move(*loaded.config);
    registry_.set_load_probe_timeout(cfg.host.load_probe_timeout);
    registry_.scan(cfg.host.plugin_dirs);

    if (auto errs = check_pipelines(cfg, registry_); !errs.empty()) {
        for (const auto& d : errs) spdlog::error("{}", d.str());
        return refuse(errs.front().str());
    }

    // Only this thread changes running_ and pipelines_ (under reload_mu_), so reading them here
    // needs no lock; mu_ is taken only to swap what changed in. Probing plugins (up to the probe
    // timeout), starting proxies and draining the replaced ones (up to response_timeout) all run
    // without it, so /-/ready, /metrics and /status keep answering while a reload runs.
    config::Diagnostics errors;
    auto created = build(cfg, &running_, &errors, false);
    // New and changed proxies start now, before anything is committed: a port they cannot bind
    // refuses the reload. (Listeners use SO_REUSEPORT, so a changed proxy binds beside the old.)
    auto created_pipelines = errors.empty() ? build_pipelines(cfg, &pipelines_, &errors, false)
                                            : std::map<std::string, RunningPipeline>{};
    std::unique_ptr<admin::HttpServer> new_admin;
    if (errors.empty() && cfg.host.admin != config_->host.admin) {
        new_admin = std::make_unique<admin::HttpServer>([this](const admin::Request& r) { return handle(r); });
        try {
            new_admin->start(cfg.host.admin);
        } catch (const std::exception& e) {
            errors.push_back({cfg.file, {}, e.what()});
        }
    }
    if (!errors.empty()) {
        for (const auto& d : errors) spdlog::error("{}", d.str());
        created_pipelines.clear();
        created.clear();
        if (new_admin) new_admin->stop();
        return refuse(errors.front().str());
    }

    // Commit: keep the unchanged; take out what was removed or replaced (stopped below, outside
    // the lock); the new proxies already listen beside the ones they replace.
    std::map<Key, Running> retired;
    std::map<std::string, RunningPipeline> retired_pipelines;
    size_t kept = 0, removed = 0, added = created.size() + created_pipelines.size();
    auto& up = reg.gauge("herd_instance_up", "1 when a configured plugin instance runs, 0 when it failed.",
                         {"kind", "name", "plugin"});
    std::unique_ptr<admin::HttpServer> old_admin;
    {
        std::lock_guard lk(mu_);
        std::map<Key, Running> next;
        for (const auto& ic : cfg.instances) {
            Key key{ic.kind, ic.name};
            if (auto it = running_.find(key); it != running_.end() && !created.count(key)) {
                next.emplace(key, std::move(it->second));
                running_.erase(it);
            }
        }
        kept = next.size();
        removed = running_.size();
        for (auto& [key, r] : running_) up.remove({plugins::kind_name(key.first), key.second, r.cfg.plugin});
        retired.swap(running_);
        running_ = std::move(next);

        std::map<std::string, RunningPipeline> next_pipelines;
        for (const auto& pc : cfg.pipelines) {
            if (auto it = pipelines_.find(pc.name); it != pipelines_.end() && !created_pipelines.count(pc.name)) {
                next_pipelines.emplace(pc.name, std::move(it->second));
                pipelines_.erase(it);
            }
        }
        removed += pipelines_.size();
        for (auto& [name, p] : pipelines_)
            metrics::global().gauge("herd_pipeline_up", "", {"kind", "name"}).remove({p.cfg.kind, name});
        retired_pipelines.swap(pipelines_);
        for (auto& [name, p] : created_pipelines) next_pipelines.emplace(name, std::move(p));
        pipelines_ = std::move(next_pipelines);
        if (new_admin) {
            old_admin = std::move(admin_);
            admin_ = std::move(new_admin);
        }
        apply_log_level(cfg);
    }
    // The replaced pipelines finish what is in flight (their successors already run).
    for (auto& [name, p] : retired_pipelines)
        if (p.pipeline) p.pipeline->stop();
    retired_pipelines.clear();
    retired.clear();            // stops and destroys the removed and replaced instances
    start_new(created);         // before they are visible to /status: start_new writes their state
    {
        std::lock_guard lk(mu_);
        for (auto& [key, r] : created) running_.emplace(key, std::move(r));
        config_ = std::move(cfg);
        last_reload_ = std::chrono::system_clock::now();
        last_reload_ok_ = true;
        last_reload_error_.clear();
    }
    if (old_admin) old_admin->stop();

    {
        std::lock_guard l2(mu_);
        publish_instance_metrics();
    }
    result.with({"success"}).add(1);
    ok_gauge.with({}).set(1);
    reg.gauge("herd_config_last_reload_success_timestamp_seconds", "When the configuration was last applied.")
        .with({})
        .set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    spdlog::info("reload applied: {} kept, {} added or changed, {} removed", kept, added, removed);
    return true;
}

}  // namespace herd::runtime

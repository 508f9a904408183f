#include "proxy/proxy_pipeline.hpp"

#include "plugins/instance_builder.hpp"
#include "version.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <map>
#include <mutex>

namespace herd::proxy {

config::InstanceConfig plugin_instance_config(const config::PipelineConfig& pc, const config::PluginRef& ref) {
    config::InstanceConfig ic;
    ic.kind = ref.kind;
    ic.section = "proxy";
    ic.name = pc.name + "." + (ref.key == "strategy" ? std::string("strategy")
                                                     : "affinity" + ref.key.substr(ref.key.find('[')));
    ic.plugin = ref.plugin;
    ic.factory = ref.factory;
    ic.settings = ref.settings;
    ic.where = pc.position_of(ref.key);
    // Errors the plugin reports about its keys point into the inline table it came from.
    ic.table = pc.subtable(ref.key);
    return ic;
}

ProxyPipeline::ProxyPipeline(const config::PipelineConfig& pc, discovery::Manager& discovery, metrics::Registry& registry)
    : pc_(pc), cfg_(*pc.proxy), discovery_(discovery), registry_(registry), table_(cfg_.backends) {
    table_.on_new = [this](Backend& b) { attach_metrics(b); };
}

ProxyPipeline::~ProxyPipeline() { stop(); }

std::unique_ptr<ProxyPipeline> ProxyPipeline::create(const config::PipelineConfig& pc, plugins::InstanceBuilder& builder,
                                                     discovery::Manager& discovery, metrics::Registry& registry,
                                                     config::Diagnostic* error) {
    std::unique_ptr<ProxyPipeline> p(new ProxyPipeline(pc, discovery, registry));
    for (const auto& ref : pc.plugin_refs) {
        auto inst = builder.build(plugin_instance_config(pc, ref), error);
        if (!inst) {
            error->message = "proxy \"" + pc.name + "\": " + ref.key + ": " + error->message;
            return nullptr;
        }
        if (ref.kind == HERD_KIND_SELECTOR)
            p->selector_ = std::move(inst);
        else
            p->affinity_.push_back(std::move(inst));
    }
    return p;
}

namespace {
// How many live Backend objects use the series of (proxy, backend): a reloaded proxy's backends
// share them with their predecessors. The series are removed when the last one goes, so a backend
// that left discovery does not leave its series behind forever (Kubernetes churns through many).
std::mutex live_mu;
std::map<std::pair<std::string, std::string>, int> live_series;

void remove_backend_series(metrics::Registry& r, const std::string& proxy, const std::string& backend) {
    const std::vector<std::string> id{proxy, backend};
    for (const char* code : {"error", "1xx", "2xx", "3xx", "4xx", "5xx"})
        r.counter("herd_proxy_requests_total", "", {"proxy", "backend", "code"}).remove({proxy, backend, code});
    for (const char* c : {"herd_proxy_retries_total", "herd_proxy_backend_errors_total", "herd_proxy_backend_protocol_errors_total"})
        r.counter(c, "", {"proxy", "backend"}).remove(id);
    for (const char* g : {"herd_proxy_backend_ready", "herd_proxy_backend_eligible", "herd_proxy_backend_score",
                          "herd_proxy_backend_ejected"})
        r.gauge(g, "", {"proxy", "backend"}).remove(id);
    r.histogram("herd_proxy_request_duration_seconds", "", {"proxy", "backend"}, metrics::latency_buckets()).remove(id);
}
}  // namespace

void ProxyPipeline::attach_metrics(Backend& b) {
    const std::vector<std::string> id{pc_.name, b.id};
    {
        std::lock_guard lk(live_mu);
        ++live_series[{pc_.name, b.id}];
    }
    b.on_destroy = [&registry = registry_, proxy = pc_.name, backend = b.id] {
        std::lock_guard lk(live_mu);
        auto it = live_series.find({proxy, backend});
        if (it != live_series.end() && --it->second == 0) {
            live_series.erase(it);
            remove_backend_series(registry, proxy, backend);
        }
    };
    auto& requests = registry_.counter("herd_proxy_requests_total",
                                       "Requests forwarded, by backend and status class (\"error\": no response).",
                                       {"proxy", "backend", "code"});
    static const char* classes[] = {"error", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 6; ++i) b.requests[i] = &requests.with({pc_.name, b.id, classes[i]});
    b.retries = &registry_.counter("herd_proxy_retries_total", "Requests sent to another backend after this one failed (retries that happened).",
                                   {"proxy", "backend"}).with(id);
    b.errors = &registry_.counter("herd_proxy_backend_errors_total",
                                  "Failures: connect, reset, timeout, 502/503/504, broken responses.", {"proxy", "backend"})
                    .with(id);
    b.protocol_errors = &registry_.counter("herd_proxy_backend_protocol_errors_total",
                                           "Answers that broke HTTP framing (bytes nobody asked for, a 101 without "
                                           "Upgrade): the connection was closed, never reused.",
                                           {"proxy", "backend"})
                             .with(id);
    b.latency = &registry_.histogram("herd_proxy_request_duration_seconds",
                                     "Time from sending a request to a backend to the end of its response.",
                                     {"proxy", "backend"}, metrics::latency_buckets())
                     .with(id);
}

std::vector<int> ProxyPipeline::listener_fds() const { return server_ ? server_->listener_fds() : std::vector<int>{}; }

std::string ProxyPipeline::start(pipeline::Pipeline* replacing) {
    std::vector<int> inherited;
    if (auto* old = dynamic_cast<ProxyPipeline*>(replacing); old && old->cfg_.listen == cfg_.listen)
        inherited = old->listener_fds();
    return start_on(std::move(inherited));
}

std::string ProxyPipeline::start_on(std::vector<int> inherited) {
    // Backends known now, then every change as it happens.
    for (const auto& d : cfg_.backends) table_.apply(d, discovery_.groups(d));
    loop_ = std::make_unique<SelectionLoop>(pc_.name, cfg_, table_, *selector_, selection_, registry_);
    for (const auto& d : cfg_.backends)
        subscriptions_.push_back(discovery_.subscribe(d, [this](const std::string& name, const auto& changed) {
            if (table_.apply(name, changed)) loop_->trigger();
        }));
    loop_->start();

    auto ctx = std::make_shared<RouteContext>();
    ctx->proxy_name = pc_.name;
    ctx->cfg = cfg_;
    ctx->selector = selector_->factory().selector;
    ctx->selector_handle = selector_->handle();
    auto& hits = registry_.counter("herd_proxy_affinity_hits_total", "Requests routed by an affinity module.",
                                   {"proxy", "module"});
    for (auto& a : affinity_)
        ctx->affinity.push_back({a->factory().name, a->factory().affinity, a->handle(),
                                 &hits.with({pc_.name, a->factory().name})});
    ctx->selection = &selection_;
    ctx->reselect = [this] { loop_->trigger(); };
    if (cfg_.mpp_endpoints) ctx->local = [this](const std::string& path) { return mpp_endpoint(path); };
    ctx->no_backend = &registry_.counter("herd_proxy_no_backend_total", "Requests answered 503: no backend was eligible.",
                                         {"proxy"}).with({pc_.name});
    ctx->too_large = &registry_.counter("herd_proxy_request_too_large_total",
                                        "Requests refused with 413: body over max_request_body.", {"proxy"})
                          .with({pc_.name});
    ctx->bad_requests = &registry_.counter("herd_proxy_bad_requests_total",
                                           "Requests refused before forwarding: malformed (RFC 9112), too large, "
                                           "unsupported (CONNECT, HTTP/2), incomplete in time.",
                                           {"proxy"})
                             .with({pc_.name});
    ctx->accept_errors = &registry_.counter("herd_proxy_accept_errors_total",
                                            "accept() failures (at the fd limit accepting pauses for 100 ms).", {"proxy"})
                              .with({pc_.name});
    ctx->abandoned = &registry_.counter("herd_proxy_abandoned_requests_total",
                                        "Requests whose client left before the answer began: the upstream "
                                        "connection was closed so the backend stops working on it.",
                                        {"proxy"})
                          .with({pc_.name});
    server_ = std::make_unique<ProxyServer>(ctx);
    try {
        server_->start(std::move(inherited));
    } catch (const std::exception& e) {
        server_.reset();
        return e.what();
    }
    started_ = true;
    spdlog::info("proxy {} listening on {} (strategy {}/{}, {} affinity module(s))", pc_.name, cfg_.listen,
                 selector_->plugin().name, selector_->factory().name, affinity_.size());
    return {};
}

void ProxyPipeline::stop() {
    for (auto id : subscriptions_) discovery_.unsubscribe(id);
    subscriptions_.clear();
    if (server_) server_->stop();
    server_.reset();
    if (loop_) loop_->stop();
    loop_.reset();
    started_ = false;
}

bool ProxyPipeline::ready() const { return started_ && loop_ && loop_->selected_once(); }

uint16_t ProxyPipeline::port() const { return server_ ? server_->port() : 0; }

pipeline::Summary ProxyPipeline::summary() const {
    pipeline::Summary s;
    s.ready = ready();
    s.state = s.ready ? "serving" : started_ ? "selecting" : "stopped";
    if (!s.ready) s.not_ready_reason = "has not selected yet";
    return s;
}

ProxyRow ProxyPipeline::status() const {
    ProxyRow row;
    row.name = pc_.name;
    row.listen = cfg_.listen;
    row.state = ready() ? "serving" : started_ ? "selecting" : "stopped";
    if (selector_) row.strategy = selector_->plugin().name + "/" + selector_->factory().name;
    row.interval = std::to_string(cfg_.interval.count() / 1000.0).substr(0, 4) + "s";
    for (const auto& a : affinity_) row.affinity.push_back(a->factory().name);
    row.retries = cfg_.retries;
    if (!loop_) return row;
    auto v = loop_->view();
    row.last_selection = v.last;
    row.last_result = v.last_result;
    row.selection_error = v.error;
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto& requests = registry_.counter("herd_proxy_requests_total", "", {"proxy", "backend", "code"});
    for (const auto& b : v.backends) {
        ProxyBackendRow r;
        r.id = b.id;
        r.eligible = b.eligible;
        r.ready = b.stats.ready;
        r.ejected = b.ejected;
        r.score = b.score;
        if (b.stats.present & HERD_STAT_START_TIME) r.uptime_s = now - b.stats.start_time_s;
        if (b.stats.present & HERD_STAT_LOWEST_TIMESTAMP) r.history_s = now - b.stats.lowest_timestamp_s;
        for (const char* c : {"1xx", "2xx", "3xx", "4xx", "5xx"}) r.requests += requests.with({pc_.name, b.id, c}).value();
        r.errors = registry_.counter("herd_proxy_backend_errors_total", "", {"proxy", "backend"}).with({pc_.name, b.id}).value();
        r.error = b.stats.error;
        row.backends.push_back(std::move(r));
    }
    return row;
}

}  // namespace herd::proxy

namespace herd::proxy {

namespace {
std::unique_ptr<pipeline::Pipeline> create_proxy(const config::PipelineConfig& pc, pipeline::Context& ctx,
                                                 config::Diagnostic* error) {
    return ProxyPipeline::create(pc, ctx.builder, ctx.discovery, ctx.metrics, error);
}

// The strategy and affinity instances validate their own keys.
config::Diagnostics check_proxy(const config::PipelineConfig& pc, pipeline::Context& ctx) {
    config::Diagnostics out;
    for (const auto& ref : pc.plugin_refs) {
        config::Diagnostic d;
        ctx.builder.build(plugin_instance_config(pc, ref), &d);
        if (!d.message.empty()) out.push_back(d);
    }
    return out;
}
}  // namespace

pipeline::Factory factory() { return {"proxy", &create_proxy, &check_proxy}; }

}  // namespace herd::proxy

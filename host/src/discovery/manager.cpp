#include "discovery/manager.hpp"

#include "metrics/registry.hpp"

#include <spdlog/spdlog.h>

namespace herd::discovery {

const char* state_name(ProviderStatus::State s) {
    switch (s) {
        case ProviderStatus::State::starting: return "starting";
        case ProviderStatus::State::healthy: return "healthy";
        case ProviderStatus::State::failing: return "failing";
        default: return "stopped";
    }
}

Manager::Manager(metrics::Registry& metrics) : metrics_(metrics), thread_([this] { run(); }) {}

Manager::~Manager() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void Manager::add_provider(const std::string& name) {
    std::lock_guard lk(mu_);
    providers_[name] = Provider{};
    publish_metrics(name, providers_[name]);
}

void Manager::remove_provider(const std::string& name) {
    std::lock_guard lk(mu_);
    auto it = providers_.find(name);
    if (it == providers_.end()) return;
    Delivery d{name, {}, std::nullopt};
    for (auto& [source, _] : it->second.by_source) d.changed.push_back(TargetGroup{source, {}, {}});
    providers_.erase(it);
    for (const char* m : {"herd_discovery_targets", "herd_discovery_healthy", "herd_discovery_groups"})
        metrics_.gauge(m, "", {"discovery"}).remove({name});
    if (!d.changed.empty()) enqueue(std::move(d));
}

void Manager::enqueue(Delivery d) {
    d.seq = ++enqueued_;
    queue_.push_back(std::move(d));
    cv_.notify_all();
}

void Manager::publish_metrics(const std::string& name, const Provider& p) {
    metrics_.gauge("herd_discovery_targets", "Targets a discovery instance currently provides.", {"discovery"})
        .with({name})
        .set(static_cast<double>(p.status.targets));
    metrics_.gauge("herd_discovery_groups", "Target groups (sources) a discovery instance currently provides.", {"discovery"})
        .with({name})
        .set(static_cast<double>(p.status.groups));
    metrics_.gauge("herd_discovery_healthy", "1 when the discovery instance's last refresh succeeded.", {"discovery"})
        .with({name})
        .set(p.status.state == ProviderStatus::State::failing ? 0 : 1);
}

void Manager::update(const std::string& provider, std::string_view json) {
    std::vector<TargetGroup> parsed;
    try {
        parsed = parse_groups(json);
    } catch (const std::exception& e) {
        report_error(provider, std::string("the plugin sent invalid target groups (ignored): ") + e.what());
        return;
    }
    std::lock_guard lk(mu_);
    auto it = providers_.find(provider);
    if (it == providers_.end()) return;  // removed while its plugin was still talking
    auto& p = it->second;
    Delivery d{provider, {}, std::nullopt};
    for (auto& g : parsed) {
        auto cur = p.by_source.find(g.source);
        if (g.targets.empty()) {
            if (cur == p.by_source.end()) continue;
            p.by_source.erase(cur);
            d.changed.push_back(std::move(g));
        } else if (cur == p.by_source.end() || !(cur->second == g)) {
            p.by_source[g.source] = g;
            d.changed.push_back(std::move(g));
        }
    }
    p.status.state = ProviderStatus::State::healthy;
    p.status.last_update = std::chrono::system_clock::now();
    p.status.groups = p.by_source.size();
    p.status.targets = 0;
    for (const auto& [_, g] : p.by_source) p.status.targets += g.targets.size();
    if (!d.changed.empty()) {
        ++p.status.updates;
        metrics_.counter("herd_discovery_updates_total", "Changes of target groups received from a discovery instance.", {"discovery"})
            .with({provider})
            .add(1);
        enqueue(std::move(d));
    }
    publish_metrics(provider, p);
}

void Manager::report_error(const std::string& provider, std::string_view message) {
    std::lock_guard lk(mu_);
    auto it = providers_.find(provider);
    if (it == providers_.end()) return;
    auto& s = it->second.status;
    s.state = ProviderStatus::State::failing;
    s.last_error = std::string(message);
    s.last_error_at = std::chrono::system_clock::now();
    ++s.errors;
    metrics_.counter("herd_discovery_errors_total", "Refresh errors reported by a discovery instance.", {"discovery"})
        .with({provider})
        .add(1);
    publish_metrics(provider, it->second);
    spdlog::warn("discovery {}: {} (keeping the last good target groups)", provider, message);
}

void Manager::report_healthy(const std::string& provider) {
    std::lock_guard lk(mu_);
    auto it = providers_.find(provider);
    if (it == providers_.end()) return;
    it->second.status.state = ProviderStatus::State::healthy;
    it->second.status.last_update = std::chrono::system_clock::now();
    publish_metrics(provider, it->second);
}

uint64_t Manager::subscribe(const std::string& provider, Callback cb) {
    std::lock_guard lk(mu_);
    uint64_t id = next_id_++;
    Delivery d{provider, {}, id};
    if (auto it = providers_.find(provider); it != providers_.end())
        for (const auto& [_, g] : it->second.by_source) d.changed.push_back(g);
    enqueue(std::move(d));
    subscribers_[id] = {provider, std::move(cb), enqueued_};
    return id;
}

void Manager::unsubscribe(uint64_t id) {
    std::lock_guard lk(mu_);
    subscribers_.erase(id);
}

std::vector<TargetGroup> Manager::groups(const std::string& provider) const {
    std::lock_guard lk(mu_);
    std::vector<TargetGroup> out;
    if (auto it = providers_.find(provider); it != providers_.end())
        for (const auto& [_, g] : it->second.by_source) out.push_back(g);
    return out;
}

std::optional<ProviderStatus> Manager::status(const std::string& provider) const {
    std::lock_guard lk(mu_);
    auto it = providers_.find(provider);
    if (it == providers_.end()) return std::nullopt;
    return it->second.status;
}

std::vector<std::string> Manager::providers() const {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (const auto& [n, _] : providers_) out.push_back(n);
    return out;
}

void Manager::flush() {
    std::unique_lock lk(mu_);
    uint64_t target = enqueued_;
    idle_cv_.wait(lk, [&] { return delivered_ >= target || stopping_; });
}

void Manager::run() {
    std::unique_lock lk(mu_);
    for (;;) {
        cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        Delivery d = std::move(queue_.front());
        queue_.pop_front();
        std::vector<Callback> targets;
        for (const auto& [id, s] : subscribers_)
            if (s.provider == d.provider && (d.only ? *d.only == id : d.seq > s.since)) targets.push_back(s.cb);
        lk.unlock();
        for (auto& cb : targets) {
            try {
                cb(d.provider, d.changed);
            } catch (const std::exception& e) {
                spdlog::error("discovery {}: a subscriber failed: {}", d.provider, e.what());
            }
        }
        lk.lock();
        ++delivered_;
        idle_cv_.notify_all();
    }
}

}  // namespace herd::discovery

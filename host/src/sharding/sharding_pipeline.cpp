#include "sharding/sharding_pipeline.hpp"

#include "admin/html.hpp"
#include "sharding/config_api.hpp"

#include <herd/sdk/sink_support.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <fstream>
#include <random>

namespace herd::sharding {

namespace fs = std::filesystem;

namespace {

// A member id that survives restarts: configured, else generated once and kept in data_dir.
std::string persistent_member_id(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    const fs::path file = dir / "member_id";
    std::ifstream in(file);
    std::string id;
    if (in && std::getline(in, id) && !id.empty()) return id;
    char host[64] = {};
    ::gethostname(host, sizeof host - 1);
    std::random_device rd;
    char suffix[9];
    std::snprintf(suffix, sizeof suffix, "%08x", rd());
    id = std::string(host) + "-" + suffix;
    for (char& c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '-';
    std::ofstream(file) << id << "\n";
    return id;
}

}  // namespace

ShardingPipeline::ShardingPipeline(const config::PipelineConfig& pc, metrics::Registry& metrics)
    : pc_(pc), cfg_(*pc.sharding), metrics_(metrics) {}

ShardingPipeline::~ShardingPipeline() { stop(); }

std::unique_ptr<ShardingPipeline> ShardingPipeline::create(const config::PipelineConfig& pc, pipeline::Context& ctx,
                                                           config::Diagnostic* error) {
    std::unique_ptr<ShardingPipeline> p(new ShardingPipeline(pc, ctx.metrics));
    const auto& cfg = *pc.sharding;
    // Its own instances of the [[kv]] and [[sink]] it names: the pipeline is their only user.
    auto kv_cfg = ctx.config.pipeline_kv(pc, cfg.kv, error);
    if (!kv_cfg) return nullptr;
    p->kv_instance_ = ctx.builder.build(*kv_cfg, error);
    if (!p->kv_instance_) return nullptr;
    const auto* sink_cfg = ctx.config.find(HERD_KIND_SINK, cfg.sink);
    if (!sink_cfg) {
        *error = {ctx.config.file, pc.position_of("sink"), "sharding \"" + pc.name + "\": no [[sink]] named \"" + cfg.sink + "\""};
        return nullptr;
    }
    p->sink_instance_ = ctx.builder.build(*sink_cfg, error);
    if (!p->sink_instance_) return nullptr;
    p->kv_ = std::make_unique<kv::KvClient>(*p->kv_instance_);
    p->sink_ = std::make_unique<sink::SinkClient>(*p->sink_instance_);
    p->store_ = std::make_unique<ConfigStore>(*p->kv_, cfg.prefix, cfg.max_config_size);
    p->self_.id = cfg.member_id.empty() ? persistent_member_id(ctx.config.host.data_dir / "sharding" / pc.name) : cfg.member_id;
    p->self_.advertise = cfg.advertise.empty() ? ctx.config.host.admin : cfg.advertise;
    p->discovery_ = &ctx.discovery;
    p->drain_timeout_ = ctx.config.host.drain_timeout;
    // What the agent runs already (a restart): the pipeline starts from it, so nothing is dropped
    // before the first reshard decided.
    try {
        for (const auto& item : p->sink_->held())
            if (item.media_type == HERD_SINK_SCRAPE_CONFIG) p->applied_[item.name] = {key_hash(item.name), "", item.body};
    } catch (const std::exception& e) {
        spdlog::warn("sharding {}: cannot read what its sink holds: {}", pc.name, e.what());
    }
    return p;
}

uint64_t ShardingPipeline::view_of(const std::vector<std::string>& members) {
    std::string joined;
    for (const auto& m : members) joined += m + "\n";
    return key_hash(joined);
}

std::string ShardingPipeline::item_name(const std::string& config) const {
    if (sdk::check_item_name(config).empty()) return config;
    std::string safe;
    for (unsigned char c : config) safe.push_back(std::isalnum(c) || c == '.' || c == '_' || c == '-' ? static_cast<char>(c) : '_');
    if (safe.empty() || safe.front() == '.') safe.insert(0, "c");
    char h[17];
    std::snprintf(h, sizeof h, "%08x", static_cast<unsigned>(key_hash(config)));
    return safe.substr(0, 200) + "-" + h;
}

void ShardingPipeline::watch_configs(int64_t rev) {
    const std::string prefix = store_->configs_prefix();
    config_watch_ = kv_->watch(
        prefix, rev,
        [this, prefix](const std::vector<kv::Event>& events) {
            {
                std::lock_guard lk(mu_);
                for (const auto& ev : events) {
                    const std::string name = ev.entry.key.substr(prefix.size());
                    if (ev.type == HERD_KV_EVENT_DELETE) configs_.erase(name);
                    else configs_[name] = ev.entry.value;
                }
            }
            trigger("config change");
        },
        [this](int64_t) {
            {
                std::lock_guard lk(mu_);
                configs_valid_ = false;  // history gone: the next reshard lists everything
            }
            trigger("config watch reset");
        },
        [this](herd_status, const std::string& why) {
            std::lock_guard lk(mu_);
            degraded_ = "watching configs: " + why;
        });
}

std::string ShardingPipeline::start(pipeline::Pipeline*) {
    membership_ = std::make_unique<Membership>(*kv_, cfg_.prefix, self_, cfg_.heartbeat, cfg_.heartbeat_timeout);
    membership_->start([this] { trigger("member change"); });
    try {
        int64_t rev = 0;
        auto all = store_->all(&rev);
        {
            std::lock_guard lk(mu_);
            configs_ = std::move(all);
            configs_valid_ = true;
        }
        watch_configs(rev);
    } catch (const std::exception& e) {
        // The store is down at start: the periodic relist watches for it coming back.
        std::lock_guard lk(mu_);
        degraded_ = std::string("the store: ") + e.what();
    }
    for (const auto& d : cfg_.targets)
        subscriptions_.push_back(discovery_->subscribe(d, [this](const std::string&, const auto&) { trigger("discovery change"); }));
    started_ = true;
    thread_ = std::thread([this] { run(); });
    trigger("start");
    spdlog::info("sharding {}: member {} (advertises {}), sink {}, store prefix {}", pc_.name, self_.id, self_.advertise,
                 cfg_.sink, cfg_.prefix);
    return {};
}

void ShardingPipeline::trigger(const std::string& why) {
    {
        std::lock_guard lk(mu_);
        if (!pending_) pending_why_ = why;
        pending_ = true;
    }
    cv_.notify_all();
}

void ShardingPipeline::run() {
    auto next_relist = std::chrono::steady_clock::now() + cfg_.reshard_interval;
    std::unique_lock lk(mu_);
    while (!stopping_) {
        // Handoffs in progress are looked at every heartbeat; otherwise wait for a trigger.
        const auto wake = handing_off_.empty() ? next_relist : std::min(next_relist, std::chrono::steady_clock::now() + cfg_.heartbeat);
        cv_.wait_until(lk, wake, [&] { return stopping_ || pending_; });
        if (stopping_) break;
        std::string why = pending_ ? pending_why_ : (std::chrono::steady_clock::now() >= next_relist ? "relist" : "handoff");
        pending_ = false;
        if (why == "relist") next_relist = std::chrono::steady_clock::now() + cfg_.reshard_interval;
        lk.unlock();
        reshard(why);
        lk.lock();
    }
}

std::map<std::string, ShardingPipeline::Unit> ShardingPipeline::gather_targets() {
    std::map<std::string, Unit> out;
    for (const auto& d : cfg_.targets)
        for (const auto& g : discovery_->groups(d))
            for (const auto& t : g.targets) {
                discovery::LabelSet merged = g.labels;  // a target's own labels win over its group's
                for (const auto& [k, v] : t) merged[k] = v;
                const uint64_t h = target_key(merged, cfg_.target_key);
                char hex[17];
                std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
                out["t:" + d + ":" + hex] = {h, d, nlohmann::json(merged).dump()};
            }
    return out;
}

void ShardingPipeline::reshard(const std::string& why) {
    const auto t0 = std::chrono::steady_clock::now();
    auto& reshards = metrics_.counter("herd_sharding_reshards_total", "Reshards by result.", {"pipeline", "result"});
    auto members = membership_->members();
    std::map<std::string, std::string> configs;
    std::string store_error;
    bool from_watch = false;
    {
        std::lock_guard lk(mu_);
        from_watch = configs_valid_ && why != "relist" && why != "start";
        if (from_watch) configs = configs_;
    }
    if (!from_watch) try {
            int64_t rev = 0;
            configs = store_->all(&rev);
            if (!config_watch_) watch_configs(rev);  // the store was down when the pipeline started
            std::lock_guard lk(mu_);
            configs_ = configs;
            configs_valid_ = true;
        } catch (const std::exception& e) {
            store_error = e.what();
        }
    bool leaving = false;
    {
        std::lock_guard lk(mu_);
        leaving = leaving_;
    }
    // Degraded: without a fresh view of the store, keep what the agent runs.
    if (!store_error.empty() || !membership_->fresh()) {
        const std::string d = !store_error.empty() ? "the store: " + store_error : "membership: " + membership_->error();
        {
            std::lock_guard lk(mu_);
            degraded_ = d;
        }
        metrics_.gauge("herd_sharding_degraded", "1 while the store cannot be trusted (what was applied is kept).", {"pipeline"})
            .with({pc_.name})
            .set(1);
        metrics_.counter("herd_sharding_store_errors_total", "Reshards that could not read the store.", {"pipeline"})
            .with({pc_.name})
            .add(1);
        reshards.with({pc_.name, "degraded"}).add(1);
        left_cv_.notify_all();  // a leaving member cannot hand over without the store
        return;
    }
    metrics_.gauge("herd_sharding_degraded", "", {"pipeline"}).with({pc_.name}).set(0);

    std::vector<std::string> live;
    for (const auto& [id, m] : members)
        if (m.state == "active" && !(leaving && id == self_.id)) live.push_back(id);
    const uint64_t view = view_of(live);
    if (live != ring_members_ || ring_.size() == 0) {
        ring_ = Ring(live, static_cast<uint32_t>(cfg_.tokens));
        ring_members_ = live;
    }
    const Ring& ring = ring_;

    // Everything the ring places: the configs, and the targets of the named discovery instances.
    std::map<std::string, Unit> units;
    if (cfg_.configs)
        for (const auto& [name, yaml] : configs) units[name] = {key_hash(name), "", yaml};
    for (auto& [k, u] : gather_targets()) units[k] = std::move(u);

    std::map<std::string, Unit> owned;
    std::map<std::string, size_t> counts, target_counts;
    for (const auto& [key, u] : units) {
        auto o = ring.owner(u.hash);
        if (!o) continue;
        ++(u.discovery.empty() ? counts : target_counts)[std::string(*o)];
        if (*o == self_.id) owned[key] = u;
    }
    // Make-before-break: what moved away stays until its new owner has applied this view.
    std::map<std::string, Unit> desired = owned;
    std::map<std::string, std::chrono::steady_clock::time_point> handing;
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lk(mu_);
        for (const auto& [key, u] : applied_) {
            if (owned.count(key) || !units.count(key)) continue;  // still mine, or gone (deleted: at once)
            auto o = ring.owner(u.hash);
            if (!o) continue;
            auto m = members.find(std::string(*o));
            const bool confirmed = m != members.end() && m->second.applied_view == view;
            auto since = handing_off_.count(key) ? handing_off_[key] : now;
            if (!confirmed && now - since < cfg_.handoff_timeout) {
                desired[key] = units[key];
                handing[key] = since;
            }
        }
    }
    // The sink's items: one per config, one target-group set per discovery instance.
    auto items_of = [&](const std::map<std::string, std::string>& refused) {
        std::vector<sink::Item> items;
        std::map<std::string, nlohmann::json> groups;
        for (const auto& [key, u] : desired) {
            if (u.discovery.empty()) {
                if (!refused.count(key)) items.push_back({item_name(key), HERD_SINK_SCRAPE_CONFIG, u.payload});
                continue;
            }
            auto labels = nlohmann::json::parse(u.payload);
            const std::string address = labels.value("__address__", "");
            labels.erase("__address__");
            groups[u.discovery].push_back({{"targets", {address}}, {"labels", labels}});
        }
        for (auto& [d, g] : groups) items.push_back({item_name("targets-" + d), HERD_SINK_TARGET_GROUPS, g.dump()});
        return items;
    };
    // Items the agent refuses are kept out; the others still apply.
    std::map<std::string, std::string> refused;
    sink::ApplyResult result;
    for (int round = 0; round < 3; ++round) {
        result = sink_->apply(items_of(refused));
        if (result.ok() || result.refused.empty()) break;
        for (const auto& [item, why_refused] : result.refused)
            for (const auto& [key, u] : desired)
                if (u.discovery.empty() && item_name(key) == item) refused[key] = why_refused;
    }
    if (!result.ok()) {
        metrics_.counter("herd_sharding_sink_apply_errors_total", "Applies the sink failed.", {"pipeline"}).with({pc_.name}).add(1);
        reshards.with({pc_.name, "sink_error"}).add(1);
        std::lock_guard lk(mu_);
        degraded_ = "the sink: " + result.message;
        left_cv_.notify_all();
        spdlog::warn("sharding {}: the sink did not take the share ({}); it keeps what it had", pc_.name, result.message);
        return;  // the sink kept (or restored) what it ran: applied_ stays as it was
    }
    for (const auto& [name, why_refused] : refused) desired.erase(name);
    // Tell the fleet which view this member has applied, and why its agent refused what it refused.
    // Only when it changed: every record write wakes every member (a write per reshard would make
    // the fleet reshard each other forever).
    if (auto mine = members.find(self_.id);
        mine == members.end() || mine->second.applied_view != view || (leaving && mine->second.state != "leaving"))
        membership_->update([&](Member& me) {
            me.applied_view = view;
            if (leaving) me.state = "leaving";
        });
    try {
        for (const auto& [name, w] : refused) store_->set_error(name, w);
        std::map<std::string, std::string> previous;
        {
            std::lock_guard lk(mu_);
            previous = refused_;
        }
        for (const auto& [name, w] : previous)
            if (!refused.count(name) && owned.count(name)) store_->set_error(name, "");
    } catch (const std::exception& e) {
        spdlog::warn("sharding {}: recording refused configs: {}", pc_.name, e.what());
    }
    size_t added = 0, removed = 0;
    {
        std::lock_guard lk(mu_);
        for (const auto& [name, y] : desired) added += !applied_.count(name) || !(applied_[name] == y);
        for (const auto& [name, y] : applied_) removed += !desired.count(name);
        metrics_.counter("herd_sharding_handoffs_total", "Configs handed to another member (make-before-break).", {"pipeline"})
            .with({pc_.name})
            .add(static_cast<double>(handing_off_.size() > handing.size() ? handing_off_.size() - handing.size() : 0));
        applied_ = desired;
        handing_off_ = std::move(handing);
        if (leaving) left_ = handing_off_.empty();  // its share is applied elsewhere: it may go
        refused_ = refused;
        view_members_ = live;
        view_ = view;
        shares_ = ring.shares();
        owned_count_ = counts;
        owned_targets_ = target_counts;
        degraded_.clear();
        last_ = {std::chrono::system_clock::now(), why,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), added, removed};
    }
    left_cv_.notify_all();
    reshards.with({pc_.name, "success"}).add(1);
    metrics_.gauge("herd_sharding_members", "Live members in the ring.", {"pipeline"}).with({pc_.name}).set(static_cast<double>(live.size()));
    size_t owned_targets = 0;
    for (const auto& [k, u] : owned) owned_targets += !u.discovery.empty();
    metrics_.gauge("herd_sharding_owned_configs", "Configs this member owns.", {"pipeline"})
        .with({pc_.name})
        .set(static_cast<double>(owned.size() - owned_targets));
    metrics_.gauge("herd_sharding_owned_targets", "Discovered targets this member owns.", {"pipeline"})
        .with({pc_.name})
        .set(static_cast<double>(owned_targets));
    metrics_.gauge("herd_sharding_applied_configs", "Configs its agent runs (owned + handing off − refused).", {"pipeline"})
        .with({pc_.name})
        .set(static_cast<double>(desired.size()));
    metrics_.gauge("herd_sharding_reshard_duration_seconds", "How long the last reshard took.", {"pipeline"})
        .with({pc_.name})
        .set(last_.seconds);
    if (added || removed)
        spdlog::info("sharding {}: {} ({} members): +{} -{} configs, {} owned, {} handing off, {} refused", pc_.name, why,
                     live.size(), added, removed, owned.size(), handing_off_.size(), refused.size());
}

void ShardingPipeline::stop() {
    if (!started_) return;
    started_ = false;
    // Leave make-before-break: the others take this member's share first (bounded).
    {
        std::lock_guard lk(mu_);
        leaving_ = true;
    }
    if (membership_) membership_->update([](Member& me) { me.state = "leaving"; });
    trigger("leave");
    // The reshard thread does the leaving (never two reshards at once): it hands the share over
    // and says when nothing is left to hand off. Bounded by handoff_timeout, and well within the
    // host's drain_timeout (which ends the process).
    const auto deadline = std::chrono::steady_clock::now() + std::min(cfg_.handoff_timeout, drain_timeout_ * 6 / 10);
    {
        std::unique_lock lk(mu_);
        left_cv_.wait_until(lk, deadline, [&] { return left_ || !degraded_.empty(); });
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    config_watch_.reset();
    for (auto id : subscriptions_) discovery_->unsubscribe(id);
    subscriptions_.clear();
    if (!cfg_.keep_on_leave && sink_) {
        auto r = sink_->apply({});
        if (!r.ok()) spdlog::warn("sharding {}: emptying the sink on leave: {}", pc_.name, r.message);
    }
    if (membership_) membership_->leave();
    membership_.reset();
}

pipeline::Summary ShardingPipeline::summary() const {
    std::lock_guard lk(mu_);
    pipeline::Summary s;
    s.ready = last_.when.time_since_epoch().count() != 0;
    s.state = !degraded_.empty() ? "degraded" : s.ready ? "serving" : "starting";
    if (!s.ready) s.not_ready_reason = "has not resharded yet" + (degraded_.empty() ? "" : " (" + degraded_ + ")");
    return s;
}

std::string ShardingPipeline::status_html() const {
    using admin::html_escape;
    std::lock_guard lk(mu_);
    const auto e = html_escape;
    std::string h = "<h3>sharding <b>" + e(pc_.name) + "</b> — member <code>" + e(self_.id) + "</code> " +
                    admin::badge(!degraded_.empty() ? "degraded" : last_.when.time_since_epoch().count() ? "serving" : "starting") +
                    "</h3>";
    if (!degraded_.empty()) h += "<p class=\"err\">" + e(degraded_) + " — the agent keeps what it runs</p>";
    if (membership_) {
        const auto hb = membership_->last_heartbeat();
        h += "<p>last heartbeat (lease keepalive) " +
             (hb == std::chrono::steady_clock::time_point{} ? std::string("never")
                                                            : admin::format_age(std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                                                  std::chrono::steady_clock::now() - hb)) + " ago") +
             " · heartbeat every " + std::to_string(cfg_.heartbeat.count()) + " ms, lease " +
             std::to_string(cfg_.heartbeat_timeout.count()) + " ms</p>";
    }
    h += "<p>" + std::to_string(view_members_.size()) + " members · " + std::to_string(applied_.size()) +
         " configs applied here (" + std::to_string(handing_off_.size()) + " handing off, " +
         std::to_string(refused_.size()) + " refused) · last reshard " + admin::when(last_.when) + " (" + e(last_.why) +
         ", " + std::to_string(static_cast<int>(last_.seconds * 1000)) + " ms, +" + std::to_string(last_.added) + " −" +
         std::to_string(last_.removed) + ") · who owns a config: <code>/api/v1/sharding/" + e(pc_.name) +
         "/owner?key=NAME</code></p>";
    // The ring's shares as a picture: one bar per member.
    const int width = 600, bar = 18;
    h += "<svg width=\"" + std::to_string(width + 220) + "\" height=\"" + std::to_string(bar * static_cast<int>(shares_.size()) + 4) +
         "\" role=\"img\" aria-label=\"ring shares\">";
    int y = 2;
    double top = 0;
    for (const auto& [m, s] : shares_) top = std::max(top, s);
    for (const auto& [m, s] : shares_) {
        const int w = top > 0 ? static_cast<int>(s / top * width * 0.9) : 0;
        h += "<rect x=\"200\" y=\"" + std::to_string(y) + "\" width=\"" + std::to_string(w) + "\" height=\"" +
             std::to_string(bar - 4) + "\" fill=\"" + (m == self_.id ? "#2e7d32" : "#607d8b") + "\"/>";
        h += "<text x=\"0\" y=\"" + std::to_string(y + bar - 7) + "\" font-size=\"12\">" + e(m) + "</text>";
        char pct[32];
        std::snprintf(pct, sizeof pct, "%.1f %%", s * 100);
        h += "<text x=\"" + std::to_string(205 + w) + "\" y=\"" + std::to_string(y + bar - 7) + "\" font-size=\"12\">" + pct +
             "</text>";
        y += bar;
    }
    h += "</svg>";
    h += "<table><tr><th>member</th><th>share of the ring</th><th>configs owned</th><th>targets owned</th></tr>";
    for (const auto& m : view_members_) {
        char pct[32];
        std::snprintf(pct, sizeof pct, "%.2f %%", shares_.count(m) ? shares_.at(m) * 100 : 0.0);
        h += "<tr><td><code>" + e(m) + "</code>" + (m == self_.id ? " (this herd)" : "") + "</td><td>" + pct + "</td><td>" +
             std::to_string(owned_count_.count(m) ? owned_count_.at(m) : 0) + "</td><td>" +
             std::to_string(owned_targets_.count(m) ? owned_targets_.at(m) : 0) + "</td></tr>";
    }
    h += "</table>";
    if (!refused_.empty()) {
        h += "<p class=\"err\">refused by the agent:</p><ul>";
        for (const auto& [name, why] : refused_) h += "<li><code>" + e(name) + "</code>: " + e(why) + "</li>";
        h += "</ul>";
    }
    return h;
}

std::optional<admin::Response> ShardingPipeline::handle(const admin::Request& req) {
    if (cfg_.configs)
        if (auto r = handle_config_api(*store_, req)) return r;
    const std::string owner_path = "/api/v1/sharding/" + pc_.name + "/owner";
    if (req.path == owner_path) {
        std::string key;
        const auto at = req.query.find("key=");
        if (at == std::string::npos || !url_decode(req.query.substr(at + 4, req.query.find('&', at) - at - 4), &key))
            return admin::Response{400, "application/json", R"({"status":"error","error":"?key=NAME"})" "\n", {}};
        std::vector<std::string> live;
        {
            std::lock_guard lk(mu_);
            live = view_members_;
        }
        Ring ring(live, static_cast<uint32_t>(cfg_.tokens));
        auto o = ring.owner_of(key);
        nlohmann::json j{{"status", "success"}, {"data", {{"key", key}, {"owner", o ? std::string(*o) : ""}}}};
        return admin::Response{200, "application/json", j.dump() + "\n", {}};
    }
    return std::nullopt;
}

namespace {
std::unique_ptr<pipeline::Pipeline> create_sharding(const config::PipelineConfig& pc, pipeline::Context& ctx,
                                                    config::Diagnostic* error) {
    return ShardingPipeline::create(pc, ctx, error);
}
config::Diagnostics check_sharding(const config::PipelineConfig& pc, pipeline::Context& ctx) {
    config::Diagnostics out;
    const auto& cfg = *pc.sharding;
    if (const auto* s = ctx.config.find(HERD_KIND_SINK, cfg.sink)) {
        config::Diagnostic d;
        ctx.builder.build(*s, &d);
        if (!d.message.empty()) out.push_back(d);
    }
    return out;
}
}  // namespace

pipeline::Factory factory() { return {"sharding", &create_sharding, &check_sharding}; }

}  // namespace herd::sharding

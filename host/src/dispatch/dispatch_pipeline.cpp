#include "dispatch/dispatch_pipeline.hpp"

#include "admin/html.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

namespace herd::dispatch {

namespace {

std::string hostname() {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    std::string id(host);
    for (char& c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '-';
    return id.empty() ? "node" : id;
}

// Template errors (unknown variables) named by key, for create and for `herd check`.
config::Diagnostics template_diagnostics(const config::PipelineConfig& pc, const config::Config& cfg) {
    config::Diagnostics out;
    const auto& checks = pc.dispatch->checks;
    for (size_t i = 0; i < checks.size(); ++i) {
        const std::string key = "checks[" + std::to_string(i) + "]";
        for (const auto& [field, value] : {std::pair{"init_config", &checks[i].init_config}, std::pair{"instances", &checks[i].instances}})
            if (auto why = unknown_variable(*value, key + "." + field); !why.empty())
                out.push_back({cfg.file, pc.position_of(key), "dispatch \"" + pc.name + "\": " + why});
    }
    return out;
}

}  // namespace

DispatchPipeline::DispatchPipeline(const config::PipelineConfig& pc, metrics::Registry& metrics)
    : pc_(pc), cfg_(*pc.dispatch), metrics_(metrics), dispatcher_(cfg_.node_expiration) {}

DispatchPipeline::~DispatchPipeline() { stop(); }

std::unique_ptr<DispatchPipeline> DispatchPipeline::create(const config::PipelineConfig& pc, pipeline::Context& ctx,
                                                           config::Diagnostic* error) {
    if (auto d = template_diagnostics(pc, ctx.config); !d.empty()) {
        *error = d.front();
        return nullptr;
    }
    std::unique_ptr<DispatchPipeline> p(new DispatchPipeline(pc, ctx.metrics));
    const auto& cfg = *pc.dispatch;
    // Only leader candidates use the store: a node needs nothing but its servers and its sink.
    if (cfg.leader) {
        auto kv_cfg = ctx.config.pipeline_kv(pc, cfg.kv, error);
        if (!kv_cfg) return nullptr;
        p->kv_instance_ = ctx.builder.build(*kv_cfg, error);
        if (!p->kv_instance_) return nullptr;
        p->kv_ = std::make_unique<kv::KvClient>(*p->kv_instance_);
        p->store_ = std::make_unique<DispatchStore>(*p->kv_, cfg.prefix, cfg.max_check_size);
    }
    if (cfg.node) {
        const auto* sink_cfg = ctx.config.find(HERD_KIND_SINK, cfg.sink);
        if (!sink_cfg) {
            *error = {ctx.config.file, pc.position_of("sink"), "dispatch \"" + pc.name + "\": no [[sink]] named \"" + cfg.sink + "\""};
            return nullptr;
        }
        p->sink_instance_ = ctx.builder.build(*sink_cfg, error);
        if (!p->sink_instance_) return nullptr;
        p->sink_ = std::make_unique<sink::SinkClient>(*p->sink_instance_);
    }
    p->node_id_ = cfg.node_id.empty() ? hostname() : cfg.node_id;
    p->advertise_ = cfg.advertise.empty() ? ctx.config.host.admin : cfg.advertise;
    p->identity_ = nlohmann::ordered_json{{"id", p->node_id_}, {"advertise", p->advertise_}}.dump();
    p->discovery_ = &ctx.discovery;
    for (const auto& t : cfg.checks) p->templates_.push_back({t.discovery, t.annotations, t.check_name, t.init_config, t.instances});
    return p;
}

void DispatchPipeline::note(const std::string& event) {
    // mu_ held
    events_.push_front(admin::when(std::chrono::system_clock::now()).substr(0, 23) + " " + event);
    if (events_.size() > 8) events_.pop_back();
}

std::string DispatchPipeline::start(pipeline::Pipeline* replacing) {
    // A reload: the old pipeline of this name has the same candidate id and node id (and maybe
    // the same conf.d). Two of them in one process would campaign against each other and feed
    // one agent twice, so the old one resigns and stops polling first; the store keeps the
    // assignments and the sink keeps the checks, so the new one continues from them.
    if (auto* old = dynamic_cast<DispatchPipeline*>(replacing)) old->stop();
    if (cfg_.leader) {
        for (const auto& t : templates_)
            subscriptions_.push_back(discovery_->subscribe(t.discovery, [this](const std::string&, const std::vector<discovery::TargetGroup>&) {
                {
                    std::lock_guard lk(mu_);
                    discovered_dirty_ = true;
                }
                trigger();
            }));
        election_ = std::make_unique<kv::Election>(*kv_, store_->leader_key(), identity_, cfg_.lease);
        election_->start([this](bool) { trigger(); });
        thread_ = std::thread([this] { run(); });
    }
    if (cfg_.node) {
        NodeOptions o;
        o.pipeline = pc_.name;
        o.node_id = node_id_;
        o.advertise = advertise_;
        o.servers = cfg_.servers.empty() ? std::vector<std::string>{advertise_} : cfg_.servers;
        o.path = "/api/v1/dispatch/" + pc_.name + "/clusterchecks/";
        o.token = cfg_.token;
        o.sink_format = cfg_.sink_format;
        o.poll_interval = cfg_.poll_interval;
        // Datadog's node client waits up to 10 s; a quarter of node_expiration leaves room to try
        // two more servers before the leader gives up on this node.
        o.timeout = std::clamp(cfg_.node_expiration / 4, std::chrono::milliseconds(200), std::chrono::milliseconds(10000));
        node_ = std::make_unique<NodeAgent>(std::move(o), *sink_, metrics_);
        node_->start();
    }
    started_ = true;
    return {};
}

void DispatchPipeline::stop() {
    {
        std::lock_guard lk(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (node_) node_->stop();  // a node keeps its checks in the agent: the leader moves them when it expires
    for (auto id : subscriptions_) discovery_->unsubscribe(id);
    subscriptions_.clear();
    if (thread_.joinable()) thread_.join();
    checks_watch_.reset();
    assign_watch_.reset();
    if (election_) election_->resign();  // the next leader need not wait for the lease
    metrics_.gauge("herd_dispatch_leader", "1 while this herd leads the pipeline.", {"pipeline"}).with({pc_.name}).set(0);
}

void DispatchPipeline::trigger() {
    {
        std::lock_guard lk(mu_);
        wake_ = true;
    }
    cv_.notify_all();
}

void DispatchPipeline::watch_checks(int64_t rev) {
    const std::string prefix = store_->checks_prefix();
    checks_watch_ = kv_->watch(
        prefix, rev,
        [this, prefix](const std::vector<kv::Event>& events) {
            {
                std::lock_guard lk(mu_);
                for (const auto& ev : events) {
                    const std::string id = ev.entry.key.substr(prefix.size());
                    if (ev.type == HERD_KV_EVENT_DELETE) api_checks_.erase(id);
                    else if (auto c = from_record(id, ev.entry.value)) api_checks_[id] = *c;
                }
                discovered_dirty_ = true;  // recompute the union
            }
            trigger();
        },
        [this](int64_t) {
            {
                std::lock_guard lk(mu_);
                api_checks_valid_ = false;  // history gone: list again
            }
            trigger();
        },
        [this](herd_status, const std::string& why) {
            std::lock_guard lk(mu_);
            store_error_ = "watching checks: " + why;
        });
}

void DispatchPipeline::watch_assignments(int64_t rev) {
    const std::string prefix = store_->assign_prefix();
    assign_watch_ = kv_->watch(
        prefix, rev,
        [this, prefix](const std::vector<kv::Event>& events) {
            bool wake = false;
            {
                std::lock_guard lk(mu_);
                for (const auto& ev : events) {
                    const std::string node = ev.entry.key.substr(prefix.size());
                    auto& known = revisions_[node];
                    // An event older than a write this leader knows of says nothing new.
                    if (ev.entry.mod_revision && ev.entry.mod_revision < known) continue;
                    if (ev.type == HERD_KV_EVENT_DELETE) {
                        revisions_.erase(node);
                        if (!dispatcher_.record_of(node).empty()) rewrite_.insert(node), wake = true;
                        continue;
                    }
                    known = ev.entry.mod_revision;
                    auto r = DispatchStore::decode(ev.entry.value);
                    if (r && r->term > term_) {
                        fenced_ = true;  // a newer leader writes: this one is deposed, whatever its lease says
                        wake = true;
                        continue;
                    }
                    if (!r || r->term < term_ || r->checks != dispatcher_.record_of(node)) {
                        // An older leader's late write (or not what this leader holds): put ours back.
                        if (r && r->term < term_)
                            metrics_.counter("herd_dispatch_fenced_writes_total", "Records of an older term put right.", {"pipeline"})
                                .with({pc_.name})
                                .add(1);
                        rewrite_.insert(node);
                        wake = true;
                    }
                }
            }
            if (wake) trigger();
        },
        [this](int64_t) { trigger(); }, [](herd_status, const std::string&) {});
}

void DispatchPipeline::take_over() {
    const int64_t term = election_->term();
    auto since = election_->since();
    int64_t checks_rev = 0, assign_rev = 0;
    std::map<std::string, Check> checks;
    std::map<std::string, NodeRecord> records;
    std::vector<std::string> bad;
    try {
        checks = store_->checks(&checks_rev, &bad);
        records = store_->records(&assign_rev);
    } catch (const std::exception& e) {
        std::lock_guard lk(mu_);
        store_error_ = std::string("reading the store: ") + e.what();
        return;  // not ready: nodes keep what they run; the next tick tries again
    }
    for (const auto& id : bad) spdlog::warn("dispatch {}: check record {} is not a check; skipped", pc_.name, id);
    checks_watch_.reset();
    assign_watch_.reset();
    {
        std::lock_guard lk(mu_);
        term_ = term;
        since_ = since;
        api_checks_ = std::move(checks);
        api_checks_valid_ = true;
        discovered_dirty_ = true;
        dispatcher_ = Dispatcher(cfg_.node_expiration);
        revisions_.clear();
        rewrite_.clear();
        for (const auto& [node, r] : records) revisions_[node] = r.mod_revision;
        const auto now = Clock::now();
        auto a = DispatchStore::assignments(records);
        assignments_taken_ = a.size();
        dispatcher_.load_assignments(std::move(a), now);
        // A fresh cluster: give every node one poll to show up before placing, so the first
        // nodes do not take everything (and then shed it).
        gather_until_ = records.empty() ? now + cfg_.poll_interval : now;
        waiting_for_nodes_ = false;
        last_rebalance_at_ = now;
        store_error_.clear();
        fenced_ = false;
        note("leads, term " + std::to_string(term) + " (" + std::to_string(assignments_taken_) + " assignments taken over)");
    }
    watch_checks(checks_rev);  // events after what was listed
    watch_assignments(assign_rev);
    refresh_discovery_checks();
    {
        std::lock_guard lk(mu_);
        dispatcher_.set_checks([&] {
            auto all = discovered_checks_;
            for (const auto& [id, c] : api_checks_) all[id] = c;
            return all;
        }());
    }
    ready_ = true;
    spdlog::info("dispatch {}: {} leads (term {}); {} assignments continue", pc_.name, node_id_, term, assignments_taken_);
    metrics_.gauge("herd_dispatch_leader", "1 while this herd leads the pipeline.", {"pipeline"}).with({pc_.name}).set(1);
    metrics_.gauge("herd_dispatch_term", "The term of this herd's leadership.", {"pipeline"}).with({pc_.name}).set(static_cast<double>(term));
}

void DispatchPipeline::step_down(const std::string& why) {
    ready_ = false;
    checks_watch_.reset();
    assign_watch_.reset();
    std::lock_guard lk(mu_);
    note("stepped down: " + why);
    spdlog::warn("dispatch {}: {} no longer leads: {}", pc_.name, node_id_, why);
    metrics_.gauge("herd_dispatch_leader", "1 while this herd leads the pipeline.", {"pipeline"}).with({pc_.name}).set(0);
}

void DispatchPipeline::refresh_discovery_checks() {
    std::map<std::string, std::vector<discovery::TargetGroup>> groups;
    for (const auto& t : templates_) groups[t.discovery] = discovery_->groups(t.discovery);
    auto e = expand(templates_, groups);
    std::lock_guard lk(mu_);
    discovered_checks_ = std::move(e.checks);
    template_errors_ = std::move(e.errors);
}

void DispatchPipeline::run() {
    const auto period = std::max(cfg_.node_expiration / 4, std::chrono::milliseconds(50));
    bool was_leading = false;
    while (true) {
        {
            std::unique_lock lk(mu_);
            cv_.wait_for(lk, period, [this] { return stopping_ || wake_; });
            wake_ = false;
            if (stopping_) break;
        }
        // A leadership fenced by a newer term stays down until the election itself moves on.
        const bool elected = election_->leading() && !(fenced_ && election_->term() == term_);
        if (elected && (!was_leading || election_->term() != term_)) {
            take_over();
            was_leading = ready_;
            if (!ready_) continue;
        } else if (was_leading && (!elected || fenced_)) {
            step_down(fenced_ ? "a newer term writes to the store" : "the lease was not renewed in time");
            was_leading = false;
            continue;
        }
        if (was_leading) tick();
    }
    if (was_leading) step_down("stopping");
}

void DispatchPipeline::tick() {
    bool dirty, relist;
    {
        std::lock_guard lk(mu_);
        dirty = discovered_dirty_;
        relist = !api_checks_valid_;
        discovered_dirty_ = false;
    }
    if (relist) try {
            int64_t rev = 0;
            auto checks = store_->checks(&rev);
            watch_checks(rev);
            std::lock_guard lk(mu_);
            api_checks_ = std::move(checks);
            api_checks_valid_ = true;
            dirty = true;
        } catch (const std::exception& e) {
            std::lock_guard lk(mu_);
            store_error_ = std::string("listing checks: ") + e.what();
        }
    if (dirty) refresh_discovery_checks();
    {
        std::lock_guard lk(mu_);
        const auto now = Clock::now();
        if (dirty) {
            auto all = discovered_checks_;
            for (const auto& [id, c] : api_checks_) all[id] = c;
            dispatcher_.set_checks(std::move(all));
        }
        // No node known: when the first one shows up, give the others one poll to show up too
        // before placing, so the first node of a fresh cluster (or after an outage of all of
        // them) does not take everything and shed it again.
        if (dispatcher_.nodes().empty()) {
            waiting_for_nodes_ = true;
        } else if (waiting_for_nodes_) {
            waiting_for_nodes_ = false;
            gather_until_ = std::max(gather_until_, now + cfg_.poll_interval);
            note("first node seen; placing in one poll_interval");
        }
        if (now >= gather_until_ && !waiting_for_nodes_) {
            for (const auto& dead : dispatcher_.tick(now)) {
                note("node " + dead + " expired; its checks placed again");
                metrics_.counter("herd_dispatch_node_expirations_total", "Nodes expired (silent for node_expiration).", {"pipeline"})
                    .with({pc_.name})
                    .add(1);
            }
            const bool joined = dispatcher_.take_joined();
            const bool due = now - last_rebalance_at_ >= cfg_.rebalance_period;
            if (joined || due) {
                auto r = dispatcher_.rebalance(cfg_.rebalance_min_improvement);
                last_rebalance_at_ = now;
                if (r.applied || due) {
                    last_rebalance_ = {std::chrono::system_clock::now(), joined ? "a node joined" : "rebalance_period",
                                       r.applied ? "moved " + std::to_string(r.moves.size()) : r.why, r.applied ? r.moves : std::vector<Move>{},
                                       r.spread_before, r.spread_after};
                    if (r.applied)
                        metrics_.counter("herd_dispatch_moves_total", "Checks moved by rebalancing.", {"pipeline"})
                            .with({pc_.name})
                            .add(static_cast<double>(r.moves.size()));
                }
            }
        }
        metrics_.gauge("herd_dispatch_nodes", "Nodes the leader knows.", {"pipeline"}).with({pc_.name}).set(static_cast<double>(dispatcher_.nodes().size()));
        metrics_.gauge("herd_dispatch_checks", "Checks the leader dispatches.", {"pipeline"}).with({pc_.name}).set(static_cast<double>(dispatcher_.checks().size()));
        metrics_.gauge("herd_dispatch_dangling_checks", "Checks without a node.", {"pipeline"}).with({pc_.name}).set(static_cast<double>(dispatcher_.dangling().size()));
    }
    flush();
}

void DispatchPipeline::flush() {
    std::map<std::string, std::map<std::string, std::string>> records;  // node → its record now
    int64_t term;
    {
        std::lock_guard lk(mu_);
        auto dirty = dispatcher_.take_dirty();
        dirty.insert(rewrite_.begin(), rewrite_.end());
        rewrite_.clear();
        for (const auto& node : dirty) records[node] = dispatcher_.record_of(node);
        term = term_;
    }
    if (records.empty()) return;
    auto& errors = metrics_.counter("herd_dispatch_store_errors_total", "Assignment writes the store refused or failed.", {"pipeline"});
    auto retry_later = [&](auto from) {
        std::lock_guard lk(mu_);
        for (auto it = from; it != records.end(); ++it) rewrite_.insert(it->first);
    };
    // One read before a batch of writes: the election key must still be this leader's, of this
    // term. With leading() (lease-bounded) and the term in every record, a deposed leader's
    // write would need to slip between this read and the write — and would then be put right by
    // the current leader, which ignores older terms.
    try {
        auto key = kv_->get(store_->leader_key());
        if (!key || key->value != identity_ || key->create_revision != term) {
            fenced_ = true;
            trigger();
            return retry_later(records.begin());
        }
    } catch (const std::exception& e) {
        errors.with({pc_.name}).add(1);
        {
            std::lock_guard lk(mu_);
            store_error_ = std::string("reading the election key: ") + e.what();
        }
        return retry_later(records.begin());
    }
    bool failed = false;
    for (auto it = records.begin(); it != records.end(); ++it) {
        const auto& [node, checks] = *it;
        if (!election_->leading() || fenced_) return retry_later(it);  // deposed meanwhile: write nothing more
        int64_t expected;
        {
            std::lock_guard lk(mu_);
            auto r = revisions_.find(node);
            expected = r == revisions_.end() ? 0 : r->second;
        }
        try {
            int64_t rev = 0;
            try {
                rev = store_->write(node, checks, term, expected);
            } catch (const kv::KvError& e) {
                if (e.status() == HERD_ERR_NOT_FOUND && checks.empty()) {
                    std::lock_guard lk(mu_);
                    revisions_.erase(node);
                    continue;  // already gone
                }
                if (e.status() != HERD_ERR_CONFLICT) throw;
                // Someone wrote since this leader looked: a newer leader fences it; otherwise (its
                // own write not seen yet, or an older leader's) it writes over what is there.
                auto now = kv_->get(store_->assign_prefix() + node);
                auto r = now ? DispatchStore::decode(now->value) : std::nullopt;
                if (r && r->term > term) {
                    fenced_ = true;
                    trigger();
                    return retry_later(it);
                }
                if (!now && checks.empty()) continue;
                rev = store_->write(node, checks, term, now ? now->mod_revision : 0);
            }
            std::lock_guard lk(mu_);
            if (checks.empty()) revisions_.erase(node);
            else revisions_[node] = rev;
        } catch (const std::exception& e) {
            errors.with({pc_.name}).add(1);
            failed = true;
            std::lock_guard lk(mu_);
            store_error_ = std::string("writing assignments: ") + e.what();
            rewrite_.insert(node);  // tried again on the next tick; nodes are served from memory meanwhile
        }
    }
    std::lock_guard lk(mu_);
    if (!failed && store_error_.rfind("writing", 0) == 0) store_error_.clear();
}

pipeline::Summary DispatchPipeline::summary() const {
    pipeline::Summary s;
    if (!started_) return {"stopped", false, "not started"};
    s.ready = true;
    s.state = leading() ? "leading" : cfg_.leader ? "following" : "node";
    if (node_) {
        auto st = node_->state();
        if (!st.error.empty() && st.last_ok == std::chrono::system_clock::time_point{}) s.state = "node (no server answered yet)";
    }
    return s;
}

pipeline::Factory factory() {
    return {"dispatch",
            [](const config::PipelineConfig& pc, pipeline::Context& ctx, config::Diagnostic* error) -> std::unique_ptr<pipeline::Pipeline> {
                return DispatchPipeline::create(pc, ctx, error);
            },
            [](const config::PipelineConfig& pc, pipeline::Context& ctx) {
                // `herd check`: the templates, and the sink's instance as the plugin would create it.
                auto d = template_diagnostics(pc, ctx.config);
                const auto& cfg = *pc.dispatch;
                config::Diagnostic kv_error;
                if (cfg.leader && !ctx.config.pipeline_kv(pc, cfg.kv, &kv_error)) d.push_back(kv_error);
                if (cfg.node)
                    if (const auto* s = ctx.config.find(HERD_KIND_SINK, cfg.sink)) {
                        config::Diagnostic error;
                        ctx.builder.build(*s, &error);
                        if (!error.message.empty()) d.push_back(error);
                    }
                return d;
            }};
}

}  // namespace herd::dispatch

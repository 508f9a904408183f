#include "kv/election.hpp"

#include <spdlog/spdlog.h>

namespace herd::kv {

namespace {
int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Election::Election(KvClient& kv, std::string key, std::string id, std::chrono::milliseconds ttl)
    : kv_(kv), key_(std::move(key)), id_(std::move(id)), ttl_(ttl) {}

Election::~Election() { resign(); }

void Election::start(std::function<void(bool)> on_change) {
    on_change_ = std::move(on_change);
    try {
        watch_ = kv_.watch(
            key_, 0, [this](const std::vector<Event>& events) { on_key_events(events); },
            [this](int64_t) {
                std::lock_guard lk(mu_);
                poked_ = true;  // history lost: look at the key again
                cv_.notify_all();
            },
            [this](herd_status, const std::string& why) { spdlog::warn("election {}: watch: {}", key_, why); });
    } catch (const KvError& e) {
        // Without a watch the looks every ttl/4 still work; only the reaction is slower.
        spdlog::warn("election {}: cannot watch the key ({}); relying on looks every {} ms", key_, e.what(),
                     (ttl_ / 4).count());
    }
    thread_ = std::thread([this] { run(); });
}

bool Election::leading() const {
    if (!leader_ || lost_) return false;
    const auto since_renewal = std::chrono::nanoseconds(now_ns() - last_renewal_ns_.load());
    return since_renewal < ttl_ * 8 / 10;
}

std::chrono::system_clock::time_point Election::since() const {
    std::lock_guard lk(mu_);
    return since_;
}

void Election::on_key_events(const std::vector<Event>& events) {
    bool changed = false;
    for (const auto& ev : events) {
        if (ev.entry.key != key_) continue;  // a prefix watch: "leader" also matches "leader2"
        changed = true;
        // An event from before this candidate's own win (delivered late) says nothing about it.
        const bool after_win = ev.entry.mod_revision == 0 || ev.entry.mod_revision > term_;
        if (ev.type == HERD_KV_EVENT_DELETE) {
            remember(std::nullopt);
            if (after_win) lost_ = true;
        } else {
            remember(ev.entry);
            if (ev.entry.value != id_ && after_win) lost_ = true;
        }
    }
    if (!changed) return;
    std::lock_guard lk(mu_);
    poked_ = true;
    cv_.notify_all();
}

void Election::remember(std::optional<Entry> e) {
    std::lock_guard lk(mu_);
    if (e) {
        known_ = e->value;
        known_term_ = e->create_revision;
    } else {
        known_.reset();
        known_term_ = 0;
    }
}

std::optional<std::string> Election::known_leader(int64_t* term) const {
    std::lock_guard lk(mu_);
    if (term) *term = known_term_;
    return known_;
}

bool Election::wait(std::chrono::milliseconds d) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, d, [this] { return stopping_ || poked_; });
    poked_ = false;
    return !stopping_;
}

void Election::set_leader(bool v) {
    if (leader_.exchange(v) != v && on_change_) on_change_(v);
}

std::optional<std::string> Election::current_leader() {
    auto e = kv_.get(key_);
    remember(e);
    if (!e) return std::nullopt;
    return e->value;
}

void Election::run() {
    using clock = std::chrono::steady_clock;
    const auto period = std::max(ttl_ / 4, std::chrono::milliseconds(10));
    const auto step_down_after = ttl_ * 8 / 10;
    while (true) {
        int64_t lease = 0;
        try {
            // Campaign: only a write to an absent key can win.
            lease = kv_.lease_grant(ttl_);
            const auto granted = clock::now();
            lost_ = false;
            const int64_t rev = kv_.put(key_, id_, HERD_KV_EXPECT_ABSENT, lease);
            term_ = rev;
            last_renewal_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(granted.time_since_epoch()).count();
            remember(Entry{key_, id_, rev, rev, lease});
            {
                std::lock_guard lk(mu_);
                since_ = std::chrono::system_clock::now();
            }
            set_leader(true);
            spdlog::info("election {}: {} leads (term {})", key_, id_, rev);
            auto last_renewal = granted;
            while (wait(period)) {
                if (lost_) break;  // the watch saw the key deleted or taken
                // Paused (SIGSTOP, a stall) past the bound: the lease may have expired and another
                // candidate may lead, even if a renewal would still go through. Step down first.
                if (clock::now() - last_renewal >= step_down_after) break;
                try {
                    kv_.lease_keepalive(lease);
                    last_renewal = clock::now();
                    last_renewal_ns_ = now_ns();
                } catch (const KvError& e) {
                    if (e.status() == HERD_ERR_NOT_FOUND) break;  // the lease is gone: so is the key
                    spdlog::warn("election {}: renewal failed: {}", key_, e.what());
                }
                if (clock::now() - last_renewal >= step_down_after) break;
            }
            bool stopping;
            {
                std::lock_guard lk(mu_);
                stopping = stopping_;
            }
            if (!stopping) spdlog::warn("election {}: {} lost the lead (term {})", key_, id_, term_.load());
            try {
                kv_.lease_revoke(lease);  // the key goes with it: the next leader need not wait for the TTL
            } catch (const KvError&) {
            }
            set_leader(false);
            if (stopping) return;
        } catch (const KvError& e) {
            if (lease) {
                try {
                    kv_.lease_revoke(lease);  // an unused lease: do not leave it to expire
                } catch (const KvError&) {
                }
            }
            if (e.status() != HERD_ERR_CONFLICT) spdlog::warn("election {}: {}", key_, e.what());
        }
        // Follow: until the key is gone (the watch pokes at once; the look is the fallback).
        while (true) {
            try {
                if (!current_leader()) break;
            } catch (const KvError& e) {
                spdlog::warn("election {}: {}", key_, e.what());
            }
            if (!wait(period)) break;
        }
        std::lock_guard lk(mu_);
        if (stopping_) return;
    }
}

void Election::resign() {
    {
        std::lock_guard lk(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();  // a leader revokes its lease (and so the key) on the way out
    watch_.reset();
}

}  // namespace herd::kv

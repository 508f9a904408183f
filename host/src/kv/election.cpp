#include "kv/election.hpp"

#include <spdlog/spdlog.h>

namespace herd::kv {

Election::Election(KvClient& kv, std::string key, std::string id, std::chrono::milliseconds ttl)
    : kv_(kv), key_(std::move(key)), id_(std::move(id)), ttl_(ttl) {}

Election::~Election() { resign(); }

void Election::start(std::function<void(bool)> on_change) {
    on_change_ = std::move(on_change);
    thread_ = std::thread([this] { run(); });
}

bool Election::wait(std::chrono::milliseconds d) {
    std::unique_lock lk(mu_);
    return !cv_.wait_for(lk, d, [this] { return stopping_; });
}

void Election::set_leader(bool v) {
    if (leader_.exchange(v) != v && on_change_) on_change_(v);
}

std::optional<std::string> Election::current_leader() {
    auto e = kv_.get(key_);
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
            kv_.put(key_, id_, HERD_KV_EXPECT_ABSENT, lease);
            set_leader(true);
            spdlog::info("election {}: {} leads", key_, id_);
            auto last_renewal = granted;
            while (wait(period)) {
                try {
                    kv_.lease_keepalive(lease);
                    last_renewal = clock::now();
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
            if (!stopping) spdlog::warn("election {}: {} lost the lead (could not renew)", key_, id_);
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
        // Follow: look again until the key is gone, then campaign.
        while (wait(period)) {
            try {
                if (!kv_.get(key_)) break;
            } catch (const KvError& e) {
                spdlog::warn("election {}: {}", key_, e.what());
            }
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
}

}  // namespace herd::kv

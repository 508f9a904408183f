#include "sharding/membership.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace herd::sharding {

std::string encode(const Member& m) {
    return nlohmann::json{{"id", m.id}, {"advertise", m.advertise}, {"state", m.state},
                          {"applied_view", m.applied_view}, {"joined_ms", m.joined_ms}}
        .dump();
}

bool decode(const std::string& text, Member* out) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_string()) return false;
    out->id = j["id"];
    out->advertise = j.value("advertise", "");
    out->state = j.value("state", "active");
    out->applied_view = j.value("applied_view", uint64_t{0});
    out->joined_ms = j.value("joined_ms", int64_t{0});
    return true;
}

Membership::Membership(kv::KvClient& kv, std::string prefix, Member self, std::chrono::milliseconds heartbeat,
                       std::chrono::milliseconds ttl)
    : kv_(kv), prefix_(std::move(prefix) + "members/"), self_(std::move(self)), heartbeat_(heartbeat), ttl_(ttl) {
    self_.joined_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
}

Membership::~Membership() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    watch_.reset();
}

void Membership::start(std::function<void()> on_change) {
    on_change_ = std::move(on_change);
    thread_ = std::thread([this] { run(); });
}

void Membership::notify() {
    if (on_change_) on_change_();
}

bool Membership::register_self() {
    try {
        const int64_t lease = kv_.lease_grant(ttl_);
        Member me;
        {
            std::lock_guard lk(mu_);
            me = self_;
        }
        kv_.put(prefix_ + me.id, encode(me), HERD_KV_EXPECT_ANY, lease);
        std::lock_guard lk(mu_);
        lease_ = lease;
        registered_ = true;
        last_ok_ = std::chrono::steady_clock::now();
        error_.clear();
        return true;
    } catch (const std::exception& e) {
        std::lock_guard lk(mu_);
        error_ = std::string("cannot register: ") + e.what();
        return false;
    }
}

void Membership::relist() {
    std::map<std::string, Member> found;
    int64_t rev = kv_.list(prefix_, [&](const kv::Entry& e) {
        Member m;
        if (decode(e.value, &m)) found[m.id] = m;
    });
    {
        std::lock_guard lk(mu_);
        members_ = std::move(found);
        listed_at_ = std::chrono::steady_clock::now();
    }
    // Every change from the listing on, in order; a reset (history gone) means: list again.
    watch_ = kv_.watch(
        prefix_, rev,
        [this](const std::vector<kv::Event>& events) {
            {
                std::lock_guard lk(mu_);
                for (const auto& ev : events) {
                    const std::string id = ev.entry.key.substr(prefix_.size());
                    Member m;
                    if (ev.type == HERD_KV_EVENT_DELETE) members_.erase(id);
                    else if (decode(ev.entry.value, &m)) members_[m.id] = m;
                }
                listed_at_ = std::chrono::steady_clock::now();
            }
            notify();
        },
        [this](int64_t) {
            std::lock_guard lk(mu_);
            listed_at_ = {};  // the run loop lists again
            cv_.notify_all();
        },
        [this](herd_status, const std::string& why) {
            std::lock_guard lk(mu_);
            error_ = "watching members: " + why;
        });
}

void Membership::run() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
        bool registered = registered_;  // read under mu_: update() and leave() run on other threads
        const int64_t lease = lease_;
        lk.unlock();
        bool changed = false;
        if (!registered) {
            registered = changed = register_self();
            if (changed) spdlog::info("sharding: member {} registered", self_.id);
        } else {
            try {
                kv_.lease_keepalive(lease);  // the heartbeat: one keepalive
                std::lock_guard l2(mu_);
                last_ok_ = std::chrono::steady_clock::now();
                error_.clear();
            } catch (const kv::KvError& e) {
                std::lock_guard l2(mu_);
                error_ = std::string("heartbeat: ") + e.what();
                // Lost for good (expired while the store was away): register anew.
                if (e.status() == HERD_ERR_NOT_FOUND || std::chrono::steady_clock::now() - last_ok_ > ttl_) {
                    registered_ = registered = false;
                    spdlog::warn("sharding: member {} lost its lease ({}); registering again", self_.id, e.what());
                }
            }
        }
        bool list_now = false;
        {
            std::lock_guard l2(mu_);
            list_now = listed_at_ == std::chrono::steady_clock::time_point{} || !watch_;
        }
        if (list_now && registered) {
            try {
                relist();
                changed = true;
            } catch (const std::exception& e) {
                std::lock_guard l2(mu_);
                error_ = std::string("listing members: ") + e.what();
            }
        }
        if (changed) notify();
        lk.lock();
        cv_.wait_for(lk, registered ? heartbeat_ : std::min(heartbeat_, std::chrono::milliseconds(500)),
                     [&] { return stopping_; });
    }
}

void Membership::update(const std::function<void(Member&)>& change) {
    Member me;
    int64_t lease = 0;
    {
        std::lock_guard lk(mu_);
        change(self_);
        me = self_;
        lease = lease_;
    }
    if (!lease) return;  // written when it registers
    try {
        kv_.put(prefix_ + me.id, encode(me), HERD_KV_EXPECT_ANY, lease);
    } catch (const std::exception& e) {
        std::lock_guard lk(mu_);
        error_ = std::string("updating its record: ") + e.what();
    }
}

void Membership::leave() {
    int64_t lease = 0;
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
        lease = lease_;
        lease_ = 0;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    watch_.reset();
    if (lease) try {
            kv_.lease_revoke(lease);
        } catch (const std::exception& e) {
            spdlog::warn("sharding: member {} could not revoke its lease ({}); it expires by itself", self_.id, e.what());
        }
}

std::map<std::string, Member> Membership::members() const {
    std::lock_guard lk(mu_);
    return members_;
}

bool Membership::fresh() const {
    std::lock_guard lk(mu_);
    return registered_ && error_.empty() && listed_at_ != std::chrono::steady_clock::time_point{} &&
           std::chrono::steady_clock::now() - last_ok_ < ttl_;
}

std::string Membership::error() const {
    std::lock_guard lk(mu_);
    return error_;
}

std::chrono::steady_clock::time_point Membership::last_heartbeat() const {
    std::lock_guard lk(mu_);
    return last_ok_;
}

}  // namespace herd::sharding

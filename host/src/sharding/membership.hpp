// Membership without a hot key: each member writes its own key <prefix>members/<id>, bound to a
// lease of heartbeat_timeout, and keeps the lease alive every heartbeat — one keepalive, never a
// CAS of a shared ring value (dskit CASes the whole ring on every heartbeat). A member that dies
// vanishes when its lease expires: nobody "forgets" it by hand. A member whose lease was lost (the
// store unreachable for longer than the TTL) registers again as soon as it can.
#pragma once

#include "kv/kv_client.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace herd::sharding {

struct Member {
    std::string id, advertise;
    std::string state = "active";  // active | leaving
    uint64_t applied_view = 0;      // the ring view whose share it has applied (make-before-break)
    int64_t joined_ms = 0;
};

std::string encode(const Member& m);
bool decode(const std::string& json, Member* out);

class Membership {
public:
    Membership(kv::KvClient& kv, std::string prefix, Member self, std::chrono::milliseconds heartbeat,
               std::chrono::milliseconds ttl);
    ~Membership();

    // Registers and keeps registered on its own thread; on_change runs (on a store thread) after
    // every change of the member set or of a member's record.
    void start(std::function<void()> on_change);
    // Rewrites this member's record (e.g. the view it applied, or "leaving").
    void update(const std::function<void(Member&)>& change);
    // Revokes the lease: the key vanishes at once.
    void leave();

    // The members whose keys are in the store, as last seen (self included once registered).
    std::map<std::string, Member> members() const;
    bool fresh() const;           // the member list came from the store recently enough to trust
    std::string error() const;    // why the store is not answering, "" when it is
    std::chrono::steady_clock::time_point last_heartbeat() const;

private:
    void run();
    bool register_self();  // grant a lease, write the key; false on failure
    void relist();
    void notify();

    kv::KvClient& kv_;
    const std::string prefix_;
    Member self_;
    const std::chrono::milliseconds heartbeat_, ttl_;
    std::function<void()> on_change_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, Member> members_;
    int64_t lease_ = 0;
    bool stopping_ = false, registered_ = false;
    std::string error_;
    std::chrono::steady_clock::time_point last_ok_{}, listed_at_{};
    std::unique_ptr<kv::KvClient::Watch> watch_;
    std::thread thread_;
};

}  // namespace herd::sharding

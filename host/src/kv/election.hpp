// Leader election, once, for every KV backend: compare-and-swap on one key plus a lease.
//
// A candidate grants itself a lease and writes the key only if it is absent, attached to the
// lease: at most one write can succeed. The leader renews the lease every ttl/4; it steps down
// by itself when it has not renewed for 0.8 × ttl — before the lease can expire and let another
// candidate in — so two leaders never overlap. Followers look every ttl/4 and campaign when the
// key is gone (resigned, or its lease expired because the leader died): a dead leader is replaced
// within ttl plus one look.
#pragma once

#include "kv/kv_client.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace herd::kv {

class Election {
public:
    Election(KvClient& kv, std::string key, std::string id, std::chrono::milliseconds ttl);
    ~Election();  // resigns if leading

    // Campaigns on its own thread; on_change(true/false) is called on every transition.
    void start(std::function<void(bool leader)> on_change);
    // Stops campaigning; a leader revokes its lease, which deletes the key at once.
    void resign();
    bool leader() const { return leader_; }
    // Who leads now (the key's value), as any process may observe it.
    std::optional<std::string> current_leader();

private:
    void run();
    void set_leader(bool v);
    bool wait(std::chrono::milliseconds d);  // false when stopping

    KvClient& kv_;
    const std::string key_, id_;
    const std::chrono::milliseconds ttl_;
    std::function<void(bool)> on_change_;
    std::atomic<bool> leader_{false};
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace herd::kv

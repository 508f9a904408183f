// Leader election, once, for every KV backend: compare-and-swap on one key plus a lease.
//
// A candidate grants itself a lease and writes the key only if it is absent, attached to the
// lease: at most one write can succeed. The revision of that write is the leader's *term*: it
// only grows, so whatever a leader writes can carry it and a newer leader can tell an older
// leader's late writes apart. The leader renews the lease every ttl/4; it steps down by itself
// when it has not renewed for 0.8 × ttl — before the lease can expire and let another candidate
// in — so two leaders never overlap. leading() applies the same bound at the moment it is asked,
// so a leader that was paused (SIGSTOP, a long GC-like stall) is not a leader the instant it
// resumes, before its own thread has even run.
//
// Every candidate watches the key: a leader learns that it lost the key from the store's watch
// (not from its next poll), and a follower campaigns as soon as the key is deleted. The look every
// ttl/4 remains, for backends whose watch is down.
#pragma once

#include "kv/kv_client.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace herd::kv {

class Election {
public:
    Election(KvClient& kv, std::string key, std::string id, std::chrono::milliseconds ttl);
    ~Election();  // resigns if leading

    // Campaigns on its own thread; on_change(true/false) is called on every transition (on that
    // thread, or the watch's).
    void start(std::function<void(bool leader)> on_change);
    // Stops campaigning; a leader revokes its lease, which deletes the key at once.
    void resign();
    // Whether this candidate leads *now*: it won, and renewed within the step-down bound.
    bool leading() const;
    // The term of the current or last leadership of this candidate (0 before it ever led).
    int64_t term() const { return term_; }
    // When this candidate became leader (system clock), for /status.
    std::chrono::system_clock::time_point since() const;
    // Who leads now (the key's value), as any process may observe it: read from the store.
    std::optional<std::string> current_leader();
    // The same as last seen by the watch or the follower's look, without a store call; with the
    // key's create revision (the leader's term) when known.
    std::optional<std::string> known_leader(int64_t* term = nullptr) const;

private:
    void run();
    void set_leader(bool v);
    bool wait(std::chrono::milliseconds d);  // false when stopping; wakes early when poked
    void on_key_events(const std::vector<Event>& events);
    void remember(std::optional<Entry> e);

    KvClient& kv_;
    const std::string key_, id_;
    const std::chrono::milliseconds ttl_;
    std::function<void(bool)> on_change_;
    std::atomic<bool> leader_{false};
    std::atomic<int64_t> term_{0};
    std::atomic<int64_t> last_renewal_ns_{0};  // steady clock
    std::atomic<bool> lost_{false};            // the watch saw the key go, or go to another
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false, poked_ = false;
    std::optional<std::string> known_;  // mu_
    int64_t known_term_ = 0;             // mu_
    std::chrono::system_clock::time_point since_{};  // mu_
    std::unique_ptr<KvClient::Watch> watch_;
    std::thread thread_;
};

}  // namespace herd::kv

// One log line per interval for a condition that can repeat millions of times a second (accept
// failing at the fd limit, a misbehaving backend), with the count of the ones held back — so
// the log says how often it happened without becoming the problem itself.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace herd::util {

class LogLimiter {
public:
    explicit LogLimiter(std::chrono::milliseconds every) : every_ns_(std::chrono::nanoseconds(every).count()) {}

    // True when this occurrence should be logged; then *held_back is how many were not since the
    // last one that was. Thread-safe and lock-free.
    bool allow(uint64_t* held_back) {
        const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count();
        int64_t next = next_.load(std::memory_order_relaxed);
        if (now < next || !next_.compare_exchange_strong(next, now + every_ns_, std::memory_order_relaxed)) {
            held_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        *held_back = held_.exchange(0, std::memory_order_relaxed);
        return true;
    }

private:
    const int64_t every_ns_;
    std::atomic<int64_t> next_{0};
    std::atomic<uint64_t> held_{0};
};

}  // namespace herd::util

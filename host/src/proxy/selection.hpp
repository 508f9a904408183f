// What the request path reads for every request: the eligible backends of the last selection.
// Published by the selection loop; each I/O thread keeps its own copy and refreshes it only when
// the version moves (one relaxed atomic load per request).
#pragma once

#include "proxy/backend.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace herd::proxy {

struct Selection {
    uint64_t version = 0;
    std::vector<std::shared_ptr<Backend>> eligible;
    // Ready backends the strategy did not choose, best first: where a request goes after every
    // eligible one failed or is ejected (single-most-data and first-ready choose only one, and a
    // replica can answer /-/ready while its queries fail).
    std::vector<std::shared_ptr<Backend>> fallback;
};

class SelectionSource {
public:
    void publish(std::shared_ptr<const Selection> s) {
        std::lock_guard lk(mu_);
        current_ = std::move(s);
        version_.fetch_add(1, std::memory_order_release);
    }
    std::shared_ptr<const Selection> get() const {
        std::lock_guard lk(mu_);
        return current_;
    }
    uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

    // Selection rounds, counted whatever their result, so a request that saw a backend fail can
    // wait for a round that started after the failure.
    void round_started() noexcept { started_.fetch_add(1, std::memory_order_acq_rel); }
    void round_finished() noexcept { finished_.fetch_add(1, std::memory_order_acq_rel); }
    uint64_t rounds_started() const noexcept { return started_.load(std::memory_order_acquire); }
    uint64_t rounds_finished() const noexcept { return finished_.load(std::memory_order_acquire); }

private:
    std::atomic<uint64_t> started_{0}, finished_{0};
    mutable std::mutex mu_;
    std::shared_ptr<const Selection> current_ = std::make_shared<Selection>();
    std::atomic<uint64_t> version_{1};
};

}  // namespace herd::proxy

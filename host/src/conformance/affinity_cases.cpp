// Affinity cases: the contract of herd_affinity_ops on the proxy's hot path — lookup() is in range
// or NONE, remember() binds a client so its next request finds the same backend (by backend, not
// by position), and both are safe from many threads.
#include "conformance/hot_path.hpp"
#include "conformance/suite.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

namespace herd::conformance {

namespace {

const herd_affinity_ops& ops_of(Context& c) {
    const auto* ops = c.factory().affinity;
    c.require(ops && ops->lookup && ops->remember, "the factory's affinity table (lookup, remember) is not set");
    return *ops;
}

// The response headers remember() adds, and the request headers a browser would send back.
struct Headers {
    std::vector<std::pair<std::string, std::string>> added;
    herd_header_sink sink{{sizeof(herd_header_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR}, this, [](void* ctx, herd_str n, herd_str v) {
                              static_cast<Headers*>(ctx)->added.emplace_back(std::string(n.data, n.size), std::string(v.data, v.size));
                          }};
    std::vector<std::pair<std::string, std::string>> sent_back() const {
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto& [n, v] : added) {
            std::string lower;
            for (char ch : n) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            if (lower == "set-cookie") out.emplace_back("cookie", v.substr(0, v.find(';')));
        }
        return out;
    }
};

bool valid(int64_t idx, size_t count) { return idx == HERD_AFFINITY_NONE || (idx >= 0 && static_cast<size_t>(idx) < count); }

void binds(Context& c) {
    const auto& ops = ops_of(c);
    auto inst = c.create();
    Backends b(4);
    auto eligible = b.ptrs();
    Request first("192.0.2.7");
    const int64_t fresh = ops.lookup(inst->handle(), first.get(), eligible.data(), eligible.size());
    c.check(valid(fresh, eligible.size()), "lookup() for a new client returned " + std::to_string(fresh));
    Headers h;
    ops.remember(inst->handle(), first.get(), eligible[2], &h.sink);
    for (const auto& [n, v] : h.added)
        c.check(!n.empty() && n.find_first_of(":\r\n ") == std::string::npos && v.find_first_of("\r\n") == std::string::npos,
                "remember() added a header that is not a valid field: " + n);
    Request again("192.0.2.7", h.sent_back());
    c.check(ops.lookup(inst->handle(), again.get(), eligible.data(), eligible.size()) == 2,
            "after remember(backend 2) the client's next request must look up backend 2");
    std::vector<const herd_backend*> reordered{eligible[2], eligible[0], eligible[3], eligible[1]};
    Request third("192.0.2.7", h.sent_back());
    c.check(ops.lookup(inst->handle(), third.get(), reordered.data(), reordered.size()) == 0,
            "the binding is to the backend, not to a position: in a reordered list it is at index 0");
    std::vector<const herd_backend*> without{eligible[0], eligible[1], eligible[3]};
    Request gone("192.0.2.7", h.sent_back());
    const int64_t failover = ops.lookup(inst->handle(), gone.get(), without.data(), without.size());
    c.check(valid(failover, without.size()),
            "when the bound backend is no longer eligible lookup() must return NONE or an index in range, got " +
                std::to_string(failover));
}

void concurrent(Context& c) {
    const auto& ops = ops_of(c);
    auto inst = c.create();
    Backends b(6);
    auto eligible = b.ptrs();
    std::atomic<long> bad{0}, lost{0}, calls{0};
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5000; ++i) {
                const std::string peer = "198.51." + std::to_string(t) + "." + std::to_string(i % 250);
                Request r(peer);
                const size_t count = 1 + static_cast<size_t>(i) % eligible.size();
                const int64_t idx = ops.lookup(inst->handle(), r.get(), eligible.data(), count);
                if (!valid(idx, count)) ++bad;
                Headers h;
                const size_t chosen = static_cast<size_t>(i + t) % eligible.size();
                ops.remember(inst->handle(), r.get(), eligible[chosen], &h.sink);
                Request back(peer, h.sent_back());
                const int64_t found = ops.lookup(inst->handle(), back.get(), eligible.data(), eligible.size());
                if (!valid(found, eligible.size())) ++bad;
                else if (found == HERD_AFFINITY_NONE) ++lost;
                calls += 3;
            }
        });
    for (auto& th : threads) th.join();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    c.check(bad == 0, std::to_string(bad.load()) + " lookups from 8 threads returned an index out of range");
    c.note(std::to_string(calls.load()) + " calls from 8 threads, " + std::to_string(ns / std::max(1L, calls.load())) +
           " ns each; " + std::to_string(lost.load()) + " bindings not found right after remember (a bounded table may evict)");
}

}  // namespace

std::vector<Case> affinity_cases() {
    return {
        {"affinity.binds", "remember() binds a client to a backend (not a position); lookup() in range or NONE", binds},
        {"affinity.concurrent", "lookup() and remember() from 8 threads at once: always in range", concurrent},
    };
}

}  // namespace herd::conformance

// One backend of a proxy (a Prometheus replica), shared by the request path (which reads it from
// many threads) and the selection loop (which writes its stats). Identity fields never change
// after construction; everything that changes is atomic or guarded by the selection loop.
#pragma once

#include "metrics/registry.hpp"

#include <herd/plugin_api.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace herd::proxy {

struct BackendStats {
    uint32_t present = 0;  // HERD_STAT_* gathered
    bool ready = false;
    double start_time_s = 0, head_samples = 0, storage_bytes = 0, lowest_timestamp_s = 0;
    std::string error;  // why gathering failed, "" if it did not
};

struct Backend {
    Backend(std::string scheme, std::string host, std::string port, std::string labels_json);
    Backend(const Backend&) = delete;
    // Runs on_destroy: a backend is destroyed only when no selection and no request holds it.
    ~Backend() {
        if (on_destroy) on_destroy();
    }
    std::function<void()> on_destroy;

    const std::string scheme, host, port;
    const std::string address;  // host:port
    const std::string id;       // scheme://host:port — stable, shown in X-Herd-Backend
    const std::string labels_json;
    const uint64_t serial;      // unique in the process: a cheap key for per-thread pools
    herd_backend abi{};         // what plugins see; points into the strings above

    // Passive health, written by the request path.
    std::atomic<int64_t> ejected_until_ns{0};  // steady clock
    std::atomic<uint32_t> consecutive_failures{0};
    std::atomic<int64_t> failures_since_selection{0};

    // Set once by the pipeline; updated on the hot path without locks.
    metrics::Series* requests[6] = {};  // by status class: 1xx..5xx, [0] = no response
    metrics::Series* retries = nullptr;
    metrics::Series* errors = nullptr;
    metrics::Series* protocol_errors = nullptr;  // broke HTTP framing: stray or extra bytes, 101
    metrics::Histogram* latency = nullptr;

    bool ejected(int64_t now_ns) const noexcept { return ejected_until_ns.load(std::memory_order_relaxed) > now_ns; }
};

inline int64_t steady_now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace herd::proxy

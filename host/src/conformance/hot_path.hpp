// Synthetic backends and requests for the selector and affinity cases: the structs the proxy hands
// a strategy on its hot path, owned in one place so the pointers stay valid through a case.
#pragma once

#include <herd/plugin_api.h>

#include <memory>
#include <string>
#include <vector>

namespace herd::conformance {

struct Backends {
    std::vector<std::string> ids, addresses, labels;
    std::vector<herd_backend> backends;
    std::vector<herd_backend_stats> stats;

    explicit Backends(size_t n) : ids(n), addresses(n), labels(n), backends(n), stats(n) {
        for (size_t i = 0; i < n; ++i) {
            addresses[i] = "10.0.0." + std::to_string(i + 1) + ":9090";
            ids[i] = "http://" + addresses[i];
            labels[i] = R"({"__address__":")" + addresses[i] + R"(","job":"prometheus","replica":")" + std::to_string(i) + R"("})";
        }
        for (size_t i = 0; i < n; ++i) {
            backends[i] = {{sizeof(herd_backend), HERD_ABI_MAJOR, HERD_ABI_MINOR},
                           {ids[i].data(), ids[i].size()},
                           {addresses[i].data(), addresses[i].size()},
                           {labels[i].data(), labels[i].size()}};
            auto& s = stats[i];
            s = {};
            s.header = {sizeof(herd_backend_stats), HERD_ABI_MAJOR, HERD_ABI_MINOR};
            s.backend = &backends[i];
            s.present = HERD_STAT_READY | HERD_STAT_START_TIME | HERD_STAT_HEAD_SAMPLES | HERD_STAT_STORAGE_BYTES |
                        HERD_STAT_LOWEST_TIMESTAMP;
            s.ready = 1;
            s.start_time_s = 1.7e9 - 3600.0 * static_cast<double>(i + 1);  // older replicas hold more
            s.head_samples = 1e6 * static_cast<double>(i + 1);
            s.storage_bytes = 1e9 * static_cast<double>(i + 1);
            s.lowest_timestamp_s = 1.7e9 - 86400.0 * static_cast<double>(i + 1);
        }
    }
    std::vector<const herd_backend_stats*> stat_ptrs() const {
        std::vector<const herd_backend_stats*> out;
        for (const auto& s : stats) out.push_back(&s);
        return out;
    }
    std::vector<const herd_backend*> ptrs() const {
        std::vector<const herd_backend*> out;
        for (const auto& b : backends) out.push_back(&b);
        return out;
    }
};

// A request as the proxy sees it; headers are (name, value) pairs.
struct Request {
    std::string method = "GET", target = "/api/v1/query?query=up", peer = "192.0.2.10";
    std::vector<std::pair<std::string, std::string>> header_values;
    std::vector<herd_header> headers;
    herd_request req{};

    Request() = default;
    Request(std::string p, std::vector<std::pair<std::string, std::string>> h = {})
        : peer(std::move(p)), header_values(std::move(h)) {}
    Request(const Request&) = delete;
    const herd_request* get() {
        headers.clear();
        for (const auto& [n, v] : header_values) headers.push_back({{n.data(), n.size()}, {v.data(), v.size()}});
        req = {{sizeof(herd_request), HERD_ABI_MAJOR, HERD_ABI_MINOR},
               {method.data(), method.size()},
               {target.data(), target.size()},
               {peer.data(), peer.size()},
               headers.data(),
               headers.size()};
        return &req;
    }
};

}  // namespace herd::conformance

// What a proxy shows about itself: on /status (its section), on mpp's /mpp/status and /mpp/metrics.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace herd::proxy {

struct ProxyBackendRow {
    std::string id;
    bool eligible = false, ready = false, ejected = false;
    double score = 0;       // NaN when the strategy has none
    double uptime_s = -1;   // -1 when unknown
    double history_s = -1;  // now - lowest timestamp, -1 when unknown
    double requests = 0, errors = 0;
    std::string error;
};

struct ProxyRow {
    std::string name, listen, state, error;
    std::string strategy, interval;
    std::vector<std::string> affinity;
    int retries = 0;
    std::chrono::system_clock::time_point last_selection{};
    std::string last_result, selection_error;
    std::vector<ProxyBackendRow> backends;
};

// The proxy's section of /status.
std::string render_proxy_section(const ProxyRow& p);

}  // namespace herd::proxy

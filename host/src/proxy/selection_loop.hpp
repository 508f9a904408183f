// Decides which backends are eligible, on its own thread: gathers the stats the strategy needs
// from every backend concurrently, asks the strategy plugin, publishes the result.
// It runs at start (the proxy listens only after the first one), every interval, at once after a
// backend failure or a discovery change, and when active /-/ready checks see readiness change.
// When nothing qualifies it keeps the last good selection.
#pragma once

#include "config/config.hpp"
#include "plugins/instance.hpp"
#include "proxy/backend_table.hpp"
#include "proxy/selection.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace herd::proxy {

struct BackendView {
    std::string id;
    bool eligible = false;
    BackendStats stats;
    double score = 0;  // NaN when the strategy has none
    bool ejected = false;
};

struct SelectionView {
    std::chrono::system_clock::time_point last{};
    std::string last_result;  // changed, unchanged, kept_previous, none, error
    std::string error;
    uint64_t selections = 0;
    std::vector<BackendView> backends;
};

class SelectionLoop {
public:
    SelectionLoop(std::string proxy, const config::ProxyConfig& cfg, BackendTable& table,
                  const plugins::Instance& selector, SelectionSource& out, metrics::Registry& registry);
    ~SelectionLoop();

    // Starts the thread and waits for the first selection (bounded by the stats timeout).
    void start();
    void stop();
    void trigger();  // any thread; coalesced
    bool selected_once() const;
    SelectionView view() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace herd::proxy

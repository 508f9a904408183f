// The proxy's backends, built from the target groups of the discovery instances it names.
// A target becomes a backend at its __address__ (scheme from __scheme__, default http); one
// backend may be found by several groups. Order is stable: discovery order in the config, then
// source, then target order — first-ready relies on it.
#pragma once

#include "discovery/target_group.hpp"
#include "proxy/backend.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace herd::proxy {

class BackendTable {
public:
    explicit BackendTable(std::vector<std::string> discovery_order) : order_(std::move(discovery_order)) {}

    // Applies changed groups of one discovery instance. Returns true when the set of backends changed.
    bool apply(const std::string& discovery, const std::vector<discovery::TargetGroup>& changed);
    std::vector<std::shared_ptr<Backend>> backends() const;

    // Hook to give each new backend its metric series.
    std::function<void(Backend&)> on_new;

private:
    void rebuild();  // mu_ held

    std::vector<std::string> order_;
    mutable std::mutex mu_;
    std::map<std::string, std::map<std::string, discovery::TargetGroup>> groups_;  // discovery -> source -> group
    std::vector<std::shared_ptr<Backend>> backends_;
};

// Splits "host:port" / "[v6]:port"; false if it is not one.
bool split_address(const std::string& address, std::string* host, std::string* port);

}  // namespace herd::proxy

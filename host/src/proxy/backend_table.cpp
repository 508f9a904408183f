#include "proxy/backend_table.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <set>

namespace herd::proxy {

Backend::Backend(std::string s, std::string h, std::string p, std::string labels)
    : scheme(std::move(s)),
      host(std::move(h)),
      port(std::move(p)),
      address((host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port),
      id(scheme + "://" + address),
      labels_json(std::move(labels)),
      serial([] {
          static std::atomic<uint64_t> next{1};
          return next.fetch_add(1);
      }()) {
    abi.header = {sizeof(herd_backend), HERD_ABI_MAJOR, HERD_ABI_MINOR};
    abi.id = {id.data(), id.size()};
    abi.address = {address.data(), address.size()};
    abi.labels_json = {labels_json.data(), labels_json.size()};
}

bool split_address(const std::string& a, std::string* host, std::string* port) {
    auto colon = a.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == a.size()) return false;
    std::string h = a.substr(0, colon);
    if (h.front() == '[') {
        if (h.back() != ']') return false;
        h = h.substr(1, h.size() - 2);
    }
    for (size_t i = colon + 1; i < a.size(); ++i)
        if (a[i] < '0' || a[i] > '9') return false;
    *host = h;
    *port = a.substr(colon + 1);
    return true;
}

bool BackendTable::apply(const std::string& discovery, const std::vector<discovery::TargetGroup>& changed) {
    std::lock_guard lk(mu_);
    auto& mine = groups_[discovery];
    for (const auto& g : changed) {
        if (g.targets.empty())
            mine.erase(g.source);
        else
            mine[g.source] = g;
    }
    std::vector<std::string> before;
    for (const auto& b : backends_) before.push_back(b->id);
    rebuild();
    std::vector<std::string> after;
    for (const auto& b : backends_) after.push_back(b->id);
    return before != after;
}

void BackendTable::rebuild() {
    std::map<std::string, std::shared_ptr<Backend>> old;
    for (auto& b : backends_) old[b->id] = b;
    std::vector<std::shared_ptr<Backend>> next;
    std::set<std::string> seen;
    for (const auto& d : order_) {
        auto it = groups_.find(d);
        if (it == groups_.end()) continue;
        for (const auto& [source, g] : it->second) {
            for (const auto& t : g.targets) {
                discovery::LabelSet labels = g.labels;
                for (const auto& [k, v] : t) labels[k] = v;
                std::string host, port;
                if (!split_address(labels["__address__"], &host, &port)) {
                    spdlog::warn("proxy: discovery {} source {}: target \"{}\" is not host:port; skipped", d, source,
                                 labels["__address__"]);
                    continue;
                }
                std::string scheme = labels.count("__scheme__") ? labels["__scheme__"] : "http";
                if (scheme != "http") {
                    spdlog::warn("proxy: backend {}://{} skipped: only http backends are supported", scheme,
                                 labels["__address__"]);
                    continue;
                }
                auto b = std::make_shared<Backend>(scheme, host, port, nlohmann::json(labels).dump());
                if (!seen.insert(b->id).second) continue;
                if (auto o = old.find(b->id); o != old.end()) {
                    next.push_back(o->second);  // keep its health and metrics
                    old.erase(o);
                } else {
                    if (on_new) on_new(*b);
                    next.push_back(std::move(b));
                }
            }
        }
    }
    backends_ = std::move(next);  // the ones left in `old` go when the last holder lets go
}

std::vector<std::shared_ptr<Backend>> BackendTable::backends() const {
    std::lock_guard lk(mu_);
    return backends_;
}


}  // namespace herd::proxy

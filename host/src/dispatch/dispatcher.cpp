#include "dispatch/dispatcher.hpp"

#include <herd/sdk/sink_support.hpp>

#include <algorithm>
#include <cmath>

namespace herd::dispatch {

namespace {

double spread(const std::map<std::string, double>& loads) {
    if (loads.empty()) return 0;
    double sum = 0;
    for (const auto& [n, l] : loads) sum += l;
    const double mean = sum / static_cast<double>(loads.size());
    double var = 0;
    for (const auto& [n, l] : loads) var += (l - mean) * (l - mean);
    return var / static_cast<double>(loads.size());
}

}  // namespace

void Dispatcher::set(const std::string& id, std::optional<Assignment> a) {
    auto it = assign_.find(id);
    if (it != assign_.end()) {
        runs_[it->second.node].erase(id);
        touch(it->second.node);
        if (!it->second.from.empty()) {
            runs_[it->second.from].erase(id);
            touch(it->second.from);
            --incoming_[it->second.node];
        }
    }
    if (a) {
        runs_[a->node].insert(id);
        touch(a->node);
        if (!a->from.empty()) {
            runs_[a->from].insert(id);
            touch(a->from);
            ++incoming_[a->node];
        }
        if (it != assign_.end() && it->second == *a) return;
        if (it != assign_.end()) dirty_.insert(it->second.node);
        dirty_.insert(a->node);
        assign_[id] = *a;
    } else {
        if (it == assign_.end()) return;
        dirty_.insert(it->second.node);
        assign_.erase(it);
    }
}

void Dispatcher::set_checks(std::map<std::string, Check> checks) {
    for (auto it = assign_.begin(); it != assign_.end();) {
        const std::string id = (it++)->first;  // set() erases
        if (!checks.count(id)) set(id, std::nullopt);
    }
    for (auto it = last_weight_.begin(); it != last_weight_.end();) {
        const std::string id = (it++)->first;
        if (!checks.count(id)) forget_weight(id);
    }
    for (const auto& [id, c] : checks) {
        auto old = checks_.find(id);
        auto a = assign_.find(id);
        if (old == checks_.end() || a == assign_.end() || old->second.digest() == c.digest()) continue;
        touch(a->second.node);  // its content changed: its nodes must fetch again
        if (!a->second.from.empty()) touch(a->second.from);
    }
    checks_ = std::move(checks);
}

void Dispatcher::upsert_check(const Check& c) {
    if (auto a = assign_.find(c.id); a != assign_.end()) {
        touch(a->second.node);  // its content changed: its node must fetch again
        if (!a->second.from.empty()) touch(a->second.from);
    }
    checks_[c.id] = c;
}

void Dispatcher::remove_check(const std::string& id) {
    set(id, std::nullopt);
    forget_weight(id);
    checks_.erase(id);
}

void Dispatcher::load_assignments(std::map<std::string, Assignment> a, Clock::time_point now) {
    for (auto& [id, as] : a) {
        if (as.node.empty()) continue;
        for (const auto* n : {&as.node, &as.from})
            if (!n->empty() && !nodes_.count(*n)) {
                NodeInfo info;
                info.name = *n;
                info.heartbeat = now;  // alive until it misses node_expiration with this leader
                nodes_[*n] = info;
            }
        runs_[as.node].insert(id);
        if (!as.from.empty()) {
            runs_[as.from].insert(id);
            ++incoming_[as.node];
        }
        assign_[id] = as;
    }
    versions_.clear();
}

bool Dispatcher::status(const std::string& node, int64_t last_change, const std::map<std::string, double>* weights,
                        Clock::time_point now, const std::string& address, const std::string& node_type) {
    auto [it, fresh] = nodes_.try_emplace(node);
    NodeInfo& n = it->second;
    if (fresh) {
        n.name = node;
        joined_ = true;
    }
    n.heartbeat = now;
    n.reported = true;
    if (!address.empty()) n.address = address;
    if (!node_type.empty()) n.node_type = node_type;
    if (weights) {
        n.weights = *weights;
        for (const auto& [id, w] : *weights)
            if (checks_.count(id)) set_weight(id, w);
    }
    if (last_change == -1) return true;  // a heartbeat only: says nothing about its configs
    n.reported_version = last_change;
    const bool up_to_date = last_change == version_of(node);
    if (up_to_date && incoming_[node] > 0) {
        // It runs what its version includes: checks moving to it may now leave their old node.
        std::vector<std::string> confirmed;
        for (const auto& id : runs_[node]) {
            auto a = assign_.find(id);
            if (a != assign_.end() && a->second.node == node && !a->second.from.empty()) confirmed.push_back(id);
        }
        for (const auto& id : confirmed) set(id, Assignment{node, ""});
    }
    return up_to_date;
}

std::vector<const Check*> Dispatcher::configs_of(const std::string& node) const {
    std::vector<const Check*> out;
    auto r = runs_.find(node);
    if (r == runs_.end()) return out;
    for (const auto& id : r->second)
        if (auto c = checks_.find(id); c != checks_.end()) out.push_back(&c->second);
    return out;
}

int64_t Dispatcher::version_of(const std::string& node) const {
    if (auto v = versions_.find(node); v != versions_.end()) return v->second;
    std::string all;
    for (const auto* c : configs_of(node)) all += c->id + ':' + c->digest() + '\n';
    // Never -1 (heartbeat only) and never negative; 0 is "runs nothing", what a new node reports.
    const int64_t v = all.empty() ? 0 : static_cast<int64_t>(sdk::fingerprint(all) >> 1) | 1;
    versions_[node] = v;
    return v;
}

std::map<std::string, double> Dispatcher::loads() const {
    std::map<std::string, double> out;
    for (const auto& [name, n] : nodes_) out[name] = 0;
    for (const auto& [id, a] : assign_)
        if (out.count(a.node)) out[a.node] += weight_of(id);
    return out;
}

void Dispatcher::set_weight(const std::string& check, double w) {
    auto [it, fresh] = last_weight_.try_emplace(check, w);
    if (!fresh) weight_sum_ -= it->second;
    it->second = w;
    weight_sum_ += w;
}

void Dispatcher::forget_weight(const std::string& check) {
    auto it = last_weight_.find(check);
    if (it == last_weight_.end()) return;
    weight_sum_ -= it->second;
    last_weight_.erase(it);
}

double Dispatcher::weight_of(const std::string& check) const {
    auto a = assign_.find(check);
    if (a != assign_.end())
        if (auto n = nodes_.find(a->second.node); n != nodes_.end())
            if (auto w = n->second.weights.find(check); w != n->second.weights.end()) return w->second;
    if (auto w = last_weight_.find(check); w != last_weight_.end()) return w->second;
    return mean_weight();
}

double Dispatcher::mean_weight() const {
    return last_weight_.empty() ? 1.0 : std::max(weight_sum_ / static_cast<double>(last_weight_.size()), 1e-9);
}

double Dispatcher::load_of(const std::string& node) const {
    auto l = loads();
    auto it = l.find(node);
    return it == l.end() ? 0 : it->second;
}

size_t Dispatcher::count_of(const std::string& node) const {
    size_t n = 0;
    for (const auto& [id, a] : assign_) n += a.node == node;
    return n;
}

std::vector<std::string> Dispatcher::tick(Clock::time_point now) {
    std::vector<std::string> expired;
    for (const auto& [name, n] : nodes_)
        if (now - n.heartbeat > expiration_) expired.push_back(name);
    for (const auto& dead : expired) {
        nodes_.erase(dead);
        std::vector<std::pair<std::string, std::optional<Assignment>>> redo;
        for (const auto& id : runs_[dead]) {
            const auto& a = assign_.at(id);
            if (a.node == dead && !a.from.empty()) redo.emplace_back(id, Assignment{a.from, ""});  // back where it runs
            else if (a.node == dead) redo.emplace_back(id, std::nullopt);                          // dangling
            else redo.emplace_back(id, Assignment{a.node, ""});  // it was moving away: the new node has it
        }
        for (auto& [id, a] : redo) set(id, a);
        dirty_.insert(dead);
        runs_.erase(dead);
        versions_.erase(dead);
    }
    // Dangling: every check without a node, placed on the least loaded, one weight at a time.
    auto d = dangling();
    if (!d.empty() && !nodes_.empty()) {
        std::set<std::pair<double, std::string>> by_load;
        for (const auto& [name, load] : loads()) by_load.emplace(load, name);
        for (const auto& id : d) {
            auto least = by_load.begin();
            auto [load, to] = *least;
            by_load.erase(least);
            set(id, Assignment{to, ""});
            by_load.emplace(load + weight_of(id), to);
        }
    }
    return expired;
}

std::vector<std::string> Dispatcher::dangling() const {
    std::vector<std::string> out;
    for (const auto& [id, c] : checks_)
        if (!assign_.count(id)) out.push_back(id);
    return out;
}

RebalanceResult Dispatcher::rebalance(double min_improvement, bool apply) {
    RebalanceResult r;
    auto l = loads();
    r.spread_before = r.spread_after = spread(l);
    if (l.size() < 2) {
        r.why = "fewer than two nodes";
        return r;
    }
    // Candidates per node, heaviest first; checks already moving stay where they are.
    std::map<std::string, std::vector<std::pair<double, std::string>>> on;
    for (const auto& [id, a] : assign_)
        if (a.from.empty() && l.count(a.node)) on[a.node].emplace_back(weight_of(id), id);
    for (auto& [n, v] : on) std::sort(v.begin(), v.end(), std::greater<>());
    // Greedy: the most loaded node that can give, to the least loaded one, its heaviest check
    // that still narrows their gap (|gap - 2w| < gap ⇔ w < gap). A node whose checks are all too
    // heavy to move (one big check) is passed over, not the end of the plan.
    // By counts (no weights reported) balanced is within one check. By weights, close enough is
    // balanced: moves stop once the gap is within 5 % of the mean load (or one mean check) — the
    // last few per cent would cost many moves for little.
    double total = 0;
    for (const auto& [n, v] : l) total += v;
    const double tolerance =
        last_weight_.empty() ? 1.0 : std::max(0.05 * total / static_cast<double>(l.size()), mean_weight());
    while (true) {
        auto lo = std::min_element(l.begin(), l.end(), [](auto& a, auto& b) { return a.second < b.second; });
        std::vector<std::pair<double, std::string>> by_load;
        for (const auto& [n, v] : l) by_load.emplace_back(v, n);
        std::sort(by_load.begin(), by_load.end(), std::greater<>());
        bool moved = false;
        for (const auto& [load, src] : by_load) {
            const double gap = load - lo->second;
            if (src == lo->first || gap <= tolerance + 1e-9) break;
            auto& cands = on[src];
            auto pick = std::find_if(cands.begin(), cands.end(), [&](auto& c) { return c.first < gap - 1e-9; });
            if (pick == cands.end()) continue;
            r.moves.push_back({pick->second, src, lo->first, pick->first, load, lo->second});
            l[src] -= pick->first;
            lo->second += pick->first;
            on[lo->first].emplace_back(*pick);
            cands.erase(pick);
            moved = true;
            break;
        }
        if (!moved) break;
    }
    r.spread_after = spread(l);
    const double gain = r.spread_before > 0 ? (r.spread_before - r.spread_after) / r.spread_before : 0;
    if (r.moves.empty()) {
        r.why = "balanced: no move narrows the gap";
    } else if (gain < min_improvement) {
        r.why = "the plan improves the spread by " + std::to_string(static_cast<int>(gain * 100)) + " %, under " +
                std::to_string(static_cast<int>(min_improvement * 100)) + " %";
    } else if (apply) {
        for (const auto& m : r.moves) set(m.check, Assignment{m.to, m.from});
        r.applied = true;
    }
    return r;
}

bool Dispatcher::move(const std::string& check, const std::string& to) {
    auto a = assign_.find(check);
    if (a == assign_.end() || !nodes_.count(to) || !a->second.from.empty() || a->second.node == to) return false;
    set(check, Assignment{to, a->second.node});
    return true;
}

std::map<std::string, std::string> Dispatcher::record_of(const std::string& node) const {
    std::map<std::string, std::string> out;
    auto r = runs_.find(node);
    if (r == runs_.end()) return out;
    for (const auto& id : r->second)
        if (auto a = assign_.find(id); a != assign_.end() && a->second.node == node) out[id] = a->second.from;
    return out;
}

}  // namespace herd::dispatch

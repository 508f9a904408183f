// herd's dispatcher beside a model of Datadog's (../shared/reference/cluster-checks.md), on the
// same checks and nodes, in one process:
//   1. placing 10 000 checks on 100 nodes: time, and the spread of the counts;
//   2. a batch of new checks after the nodes reported their weights: how many land on the node
//      that looked idle (Datadog's least-busy placement reads stats refreshed only at rebalance);
//   3. a dead node: the time to place its checks again (the leader's work, not the expiry wait);
//   4. one rebalance after 10 empty nodes join: checks moved beside the minimum needed, and the
//      spread it leaves — unit weights, then skewed ones;
//   5. an up-to-date node's poll: the leader's time per status call.
//
//   herd_dispatch_bench [checks (10000)] [nodes (100)]
#include "dispatch/dispatcher.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace herd::dispatch;
using Steady = std::chrono::steady_clock;

namespace {

double ms_since(Steady::time_point t0) { return std::chrono::duration<double, std::milli>(Steady::now() - t0).count(); }

std::string node_name(int i) {
    char b[16];
    std::snprintf(b, sizeof b, "node-%03d", i);
    return b;
}

std::map<std::string, Check> make_checks(int n) {
    std::map<std::string, Check> out;
    for (int i = 0; i < n; ++i) {
        Check c;
        c.id = "check-" + std::to_string(i);
        c.check_name = "http_check";
        c.instances = {"url: \"http://svc-" + std::to_string(i) + ":8080/health\"\n"};
        out[c.id] = c;
    }
    return out;
}

// Datadog's dispatcher as the reference describes it: placement on the node with the fewest
// configs (or least busy by stats refreshed only at rebalance), rebalance by busyness moving the
// heaviest check off an above-average node while destDiff + w < 0.9 × srcDiff.
struct DatadogModel {
    std::map<std::string, std::vector<std::string>> on;  // node → checks
    std::map<std::string, double> weight;                // check → weight
    std::map<std::string, double> stale_busyness;        // node → busyness at the last rebalance

    std::string fewest() const {
        std::string best;
        size_t n = SIZE_MAX;
        for (const auto& [node, cs] : on)
            if (cs.size() < n) n = cs.size(), best = node;
        return best;
    }
    std::string least_busy_stale() const {
        std::string best;
        double b = 1e300;
        for (const auto& [node, v] : stale_busyness)
            if (v < b) b = v, best = node;
        return best;
    }
    double busyness(const std::string& node) const {
        double s = 0;
        for (const auto& c : on.at(node)) s += weight.count(c) ? weight.at(c) : 1;
        return s;
    }
    size_t rebalance() {
        size_t moves = 0;
        double total = 0;
        for (const auto& [n, cs] : on) total += busyness(n);
        const double avg = total / static_cast<double>(on.size());
        std::vector<std::string> nodes;
        for (const auto& [n, cs] : on) nodes.push_back(n);
        std::map<std::string, double> b;
        for (const auto& n : nodes) b[n] = busyness(n);
        for (const auto& src : nodes) {
            if (b[src] <= avg) continue;
            auto& cs = on[src];
            std::sort(cs.begin(), cs.end(), [&](auto& x, auto& y) { return weight[x] > weight[y]; });
            for (size_t i = 0; i < cs.size();) {
                const double w = weight[cs[i]];
                auto dest = std::min_element(b.begin(), b.end(), [](auto& x, auto& y) { return x.second < y.second; })->first;
                const double src_diff = b[src] - avg, dest_diff = b[dest] - avg;
                if (dest == src || !(dest_diff + w < 0.9 * src_diff)) {
                    ++i;
                    continue;
                }
                on[dest].push_back(cs[i]);
                b[src] -= w;
                b[dest] += w;
                cs.erase(cs.begin() + static_cast<long>(i));
                ++moves;
                if (b[src] <= avg) break;
            }
        }
        for (const auto& n : nodes) stale_busyness[n] = b[n];
        return moves;
    }
};

double stddev(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m += x;
    m /= static_cast<double>(v.size());
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / static_cast<double>(v.size()));
}

}  // namespace

int main(int argc, char** argv) {
    const int n_checks = argc > 1 ? std::atoi(argv[1]) : 10000;
    const int n_nodes = argc > 2 ? std::atoi(argv[2]) : 100;
    const auto now = Clock::now();
    std::printf("dispatch: %d checks, %d nodes (herd's dispatcher beside a model of Datadog's, same input)\n\n", n_checks, n_nodes);

    // 1. Full placement.
    Dispatcher herd(std::chrono::seconds(30));
    for (int i = 0; i < n_nodes; ++i) herd.status(node_name(i), 0, nullptr, now);
    auto checks = make_checks(n_checks);
    auto t0 = Steady::now();
    herd.set_checks(checks);
    herd.tick(now);
    const double herd_place_ms = ms_since(t0);
    size_t lo = SIZE_MAX, hi = 0;
    for (int i = 0; i < n_nodes; ++i) lo = std::min(lo, herd.count_of(node_name(i))), hi = std::max(hi, herd.count_of(node_name(i)));
    DatadogModel dd;
    for (int i = 0; i < n_nodes; ++i) dd.on[node_name(i)];
    t0 = Steady::now();
    for (const auto& [id, c] : checks) dd.on[dd.fewest()].push_back(id);
    const double dd_place_ms = ms_since(t0);
    size_t dlo = SIZE_MAX, dhi = 0;
    for (const auto& [n, cs] : dd.on) dlo = std::min(dlo, cs.size()), dhi = std::max(dhi, cs.size());
    std::printf("1. full placement          herd %8.1f ms  counts %zu..%zu   | Datadog model %8.1f ms  counts %zu..%zu   | time ratio %.2f\n",
                herd_place_ms, lo, hi, dd_place_ms, dlo, dhi, herd_place_ms / dd_place_ms);
    std::printf("   before placing: herd waits one poll_interval on a fresh cluster (10 s default), none after a leader change;\n"
                "   Datadog waits warmup_duration (30 s) after every leader change and rebuilds dispatch from scratch\n");

    // Every node confirms and reports skewed weights (log-normal, a few heavy checks).
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> lognormal(2.0, 1.0);
    std::map<std::string, std::map<std::string, double>> reported;
    for (const auto& [id, a] : herd.assignments()) reported[a.node][id] = std::round(lognormal(rng));
    for (int i = 0; i < n_nodes; ++i) {
        const auto n = node_name(i);
        herd.status(n, herd.version_of(n), &reported[n], now);
        for (const auto& [id, w] : reported[n]) dd.weight[id] = w;
    }
    // Datadog's node order and assignment differ slightly; give it the same per-node sets.
    dd.on.clear();
    for (const auto& [id, a] : herd.assignments()) dd.on[a.node].push_back(id);
    dd.rebalance();  // its stats are refreshed here, and only here

    // 2. A batch of new checks.
    const int batch = n_checks / 10;
    auto more = make_checks(n_checks + batch);
    herd.set_checks(more);
    herd.tick(now);
    std::map<std::string, int> herd_new, dd_new;
    for (int i = n_checks; i < n_checks + batch; ++i) {
        const std::string id = "check-" + std::to_string(i);
        ++herd_new[herd.assignments().at(id).node];
        const auto dest = dd.least_busy_stale();
        dd.on[dest].push_back(id);
        ++dd_new[dest];
    }
    int herd_max = 0, dd_max = 0;
    for (auto& [n, c] : herd_new) herd_max = std::max(herd_max, c);
    for (auto& [n, c] : dd_new) dd_max = std::max(dd_max, c);
    std::printf("2. %d new checks          herd: at most %d on one node           | Datadog least-busy on stale stats: %d on one node | ratio %.3f\n",
                batch, herd_max, dd_max, static_cast<double>(herd_max) / dd_max);

    // 3. A dead node.
    herd.set_checks(checks);
    herd.tick(now);
    for (int i = 0; i < n_nodes; ++i) herd.status(node_name(i), herd.version_of(node_name(i)), &reported[node_name(i)], now);
    herd.take_dirty();
    const auto later = now + std::chrono::seconds(31);
    for (int i = 1; i < n_nodes; ++i) herd.status(node_name(i), herd.version_of(node_name(i)), nullptr, later);
    const size_t orphans = herd.count_of(node_name(0));
    t0 = Steady::now();
    auto expired = herd.tick(later);
    const double redispatch_ms = ms_since(t0);
    std::printf("3. a dead node (%zu checks)  herd re-places them in %.2f ms on the tick that expires it (%zu dangling after)\n",
                orphans, redispatch_ms, herd.dangling().size());
    std::printf("   wall time bound: herd node_expiration + node_expiration/4 = 30 + 7.5 s (defaults) | Datadog 30 + up to 15 s cleanup tick + a 10 s poll\n");

    // 4. Rebalance after 10 empty nodes join: unit weights, then skewed ones.
    for (bool weighted : {false, true}) {
        Dispatcher d(std::chrono::seconds(30));
        for (int i = 0; i < n_nodes; ++i) d.status(node_name(i), 0, nullptr, now);
        d.set_checks(checks);
        d.tick(now);
        std::map<std::string, std::map<std::string, double>> w;
        DatadogModel m;
        for (const auto& [id, a] : d.assignments()) {
            w[a.node][id] = weighted ? reported[herd.assignments().count(id) ? herd.assignments().at(id).node : a.node].count(id)
                                           ? reported[herd.assignments().at(id).node][id]
                                           : 1
                                     : 1;
            m.on[a.node].push_back(id);
            m.weight[id] = w[a.node][id];
        }
        // By counts when nothing is reported (unit), by weights otherwise.
        for (int i = 0; i < n_nodes; ++i) d.status(node_name(i), d.version_of(node_name(i)), weighted ? &w[node_name(i)] : nullptr, now);
        for (int i = n_nodes; i < n_nodes + 10; ++i) {
            d.status(node_name(i), 0, nullptr, now);
            m.on[node_name(i)];
        }
        std::vector<double> before;
        for (int i = 0; i < n_nodes + 10; ++i) before.push_back(d.load_of(node_name(i)));
        auto r = d.rebalance(0.10);
        std::vector<double> after, dd_after;
        for (int i = 0; i < n_nodes + 10; ++i) after.push_back(d.load_of(node_name(i)));
        const size_t dd_moves = m.rebalance();
        for (int i = 0; i < n_nodes + 10; ++i) dd_after.push_back(m.busyness(node_name(i)));
        if (!weighted) {
            // The minimum: every node down to ceil(mean), the excess moved once.
            const int target = (n_checks + n_nodes + 9) / (n_nodes + 10);
            size_t minimum = 0;
            for (int i = 0; i < n_nodes; ++i) minimum += static_cast<size_t>(std::max(0, static_cast<int>(before[static_cast<size_t>(i)]) - target));
            std::printf("4a. 10 nodes join (unit)  herd moves %zu (minimum %zu, ratio %.2f), stddev %.2f -> %.2f | Datadog model moves %zu, stddev -> %.2f\n",
                        r.moves.size(), minimum, static_cast<double>(r.moves.size()) / static_cast<double>(minimum), stddev(before),
                        stddev(after), dd_moves, stddev(dd_after));
        } else {
            std::printf("4b. 10 nodes join (skewed) herd moves %zu, stddev %.1f -> %.1f (max %.0f)      | Datadog model moves %zu, stddev -> %.1f (max %.0f)\n",
                        r.moves.size(), stddev(before), stddev(after), *std::max_element(after.begin(), after.end()), dd_moves,
                        stddev(dd_after), *std::max_element(dd_after.begin(), dd_after.end()));
        }
    }

    // 5. An up-to-date node's poll.
    const int polls = 200000;
    t0 = Steady::now();
    int up = 0;
    for (int i = 0; i < polls; ++i) {
        const auto n = node_name(i % n_nodes);
        up += herd.status(n, herd.version_of(n), nullptr, now);
    }
    const double per_poll_us = ms_since(t0) * 1000 / polls;
    std::printf("5. up-to-date poll        herd %.2f µs per status in the dispatcher (%d of %d up to date); the HTTP cost is in fleet.py\n",
                per_poll_us, up, polls);
    return 0;
}

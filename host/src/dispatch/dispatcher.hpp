// The dispatcher's state and decisions, with no I/O: which node runs which check, each node's
// version, expiry, placement and rebalancing. The pipeline feeds it (checks, node statuses, the
// clock) and persists what changed; tests and bench/dispatch drive it directly.
//
//  - Placement: a dangling check goes to the node with the least load, where load is the sum of
//    the weights its checks reported with the node's *latest* status (a check with no report yet
//    weighs the mean of the reported ones, 1 when there are none). Each placement adds its weight
//    at once, so a batch spreads instead of piling on the node that looked idle (Datadog's
//    least-busy placement on stale stats put every new check on one runner).
//  - A node's version is a hash of what it must run, so any leader computes the same number for
//    the same assignment: after a leader change an up-to-date node stays up to date.
//  - Expiry: a node silent for node_expiration is dropped; its checks are placed again on the same
//    tick. A check moving *to* it goes back to where it runs.
//  - Rebalance: moves the heaviest check that still narrows the gap from the most to the least
//    loaded node, until no move narrows it — the fewest moves for the gain — and applies the plan
//    only when it lowers the spread (variance of the loads) by at least min_improvement.
//  - Make-before-break: a moved check is on both nodes until the new one reports the version that
//    includes it; only then does the old node's version drop it.
#pragma once

#include "dispatch/check.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace herd::dispatch {

using Clock = std::chrono::steady_clock;

struct Assignment {
    std::string node;
    std::string from;  // while moving: the node that keeps running it until `node` confirms
    bool operator==(const Assignment&) const = default;
};

struct NodeInfo {
    std::string name;
    Clock::time_point heartbeat{};
    bool reported = false;              // sent a status to this leader (else known from the store)
    int64_t reported_version = -1;      // the last_change of its latest status
    std::map<std::string, double> weights;  // per check, from its latest status (fresh, never carried)
    std::string address, node_type;
};

struct Move {
    std::string check, from, to;
    double weight = 0, from_load = 0, to_load = 0;  // loads before the move
};

struct RebalanceResult {
    std::vector<Move> moves;
    double spread_before = 0, spread_after = 0;
    bool applied = false;
    std::string why;  // when not applied
};

class Dispatcher {
public:
    explicit Dispatcher(std::chrono::milliseconds node_expiration) : expiration_(node_expiration) {}

    // Checks: the full set (e.g. after a relist), or one at a time.
    void set_checks(std::map<std::string, Check> checks);
    void upsert_check(const Check& c);
    void remove_check(const std::string& id);
    const std::map<std::string, Check>& checks() const { return checks_; }

    // What the store holds (a new leader continues from it): nodes named there count as alive
    // until node_expiration passes without their status.
    void load_assignments(std::map<std::string, Assignment> a, Clock::time_point now);
    const std::map<std::string, Assignment>& assignments() const { return assign_; }

    // A node's status: its heartbeat, its version, its fresh weights. Returns whether it is up to
    // date. Confirms the moves to it that its version includes.
    bool status(const std::string& node, int64_t last_change, const std::map<std::string, double>* weights,
                Clock::time_point now, const std::string& address = {}, const std::string& node_type = {});
    bool known(const std::string& node) const { return nodes_.count(node) > 0; }
    // What a node must run now (sorted by id), and its version.
    std::vector<const Check*> configs_of(const std::string& node) const;
    int64_t version_of(const std::string& node) const;

    // Expires silent nodes and places every dangling check. Returns the nodes it expired.
    std::vector<std::string> tick(Clock::time_point now);
    // Plans (and applies when it helps enough) a rebalance; apply=false only plans.
    RebalanceResult rebalance(double min_improvement, bool apply = true);
    // Whether a node joined since the last call (for a prompt rebalance).
    bool take_joined() { return std::exchange(joined_, false); }
    // Whether the leader has something to act on (a write, a join) before its next tick.
    bool has_work() const { return joined_ || !dirty_.empty(); }
    // Moves one check (the API's manual move), make-before-break; false when it cannot.
    bool move(const std::string& check, const std::string& to);

    std::vector<std::string> dangling() const;
    const std::map<std::string, NodeInfo>& nodes() const { return nodes_; }
    double load_of(const std::string& node) const;
    std::map<std::string, double> loads() const;  // every node's, in one pass
    double weight_of(const std::string& check) const;
    // What a check nobody reported weighs: the mean of the reported ones, 1 when there are none.
    double mean_weight() const;
    size_t count_of(const std::string& node) const;

    // The nodes whose assignments changed since the last call: what the pipeline writes to the
    // store, one record per node (record_of).
    std::set<std::string> take_dirty() { return std::exchange(dirty_, {}); }
    // A node's record: the checks assigned to it → the node each moves from ("" when settled).
    std::map<std::string, std::string> record_of(const std::string& node) const;

private:
    void set(const std::string& id, std::optional<Assignment> a);
    void touch(const std::string& node) { versions_.erase(node); }

    std::chrono::milliseconds expiration_;
    std::map<std::string, Check> checks_;
    std::map<std::string, Assignment> assign_;
    std::map<std::string, NodeInfo> nodes_;
    std::map<std::string, std::set<std::string>> runs_;  // node → checks it must run (assigned or moving away)
    mutable std::map<std::string, int64_t> versions_;    // cache
    std::map<std::string, size_t> incoming_;             // node → checks moving to it, unconfirmed
    std::set<std::string> dirty_;
    bool joined_ = false;
    // The latest weight any node reported per check (a moved check keeps its weight until its new
    // node reports it), with their sum for the mean an unreported check is given.
    std::map<std::string, double> last_weight_;
    double weight_sum_ = 0;
    void set_weight(const std::string& check, double w);
    void forget_weight(const std::string& check);
};

}  // namespace herd::dispatch

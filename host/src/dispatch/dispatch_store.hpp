// A dispatch pipeline's keys in the KV store, under its prefix:
//
//   <prefix>leader            the election key: {"id", "advertise"}, bound to the leader's lease
//   <prefix>checks/<id>       checks put through the API (check.hpp's record)
//   <prefix>assign/<node>     what each node runs: {"term", "checks": [...], "moving_in": {id: from}}
//
// One record per node, not per check: 10 000 checks on 100 nodes are 100 keys, and placing or
// moving a batch costs a write per node touched, not per check. A check moving in is in its new
// node's moving_in (its old node keeps running it until the new one confirms).
//
// Records carry the term of the leader that wrote them and are written with a compare-and-swap
// on the revision that leader last saw: a deposed leader's write either fails (someone wrote
// since) or, when it slips in, carries an older term than the current leader's, which ignores it
// and puts its own record back.
#pragma once

#include "dispatch/check.hpp"
#include "dispatch/dispatcher.hpp"
#include "kv/kv_client.hpp"

#include <map>
#include <optional>
#include <string>

namespace herd::dispatch {

struct NodeRecord {
    int64_t term = 0;
    std::map<std::string, std::string> checks;  // id → the node it moves from ("" when settled)
    int64_t mod_revision = 0;
};

class DispatchStore {
public:
    DispatchStore(kv::KvClient& kv, std::string prefix, uint64_t max_check_size)
        : kv_(kv), prefix_(std::move(prefix)), max_check_size_(max_check_size) {}

    std::string leader_key() const { return prefix_ + "leader"; }
    std::string checks_prefix() const { return prefix_ + "checks/"; }
    std::string assign_prefix() const { return prefix_ + "assign/"; }
    uint64_t max_check_size() const { return max_check_size_; }

    // Checks (the API's); records that do not parse are skipped and named in *bad.
    std::map<std::string, Check> checks(int64_t* revision = nullptr, std::vector<std::string>* bad = nullptr);
    std::optional<Check> check(const std::string& id);
    int64_t put_check(const Check& c);
    bool delete_check(const std::string& id);  // false when there was none

    std::map<std::string, NodeRecord> records(int64_t* revision = nullptr);
    static std::string encode(const std::map<std::string, std::string>& checks, int64_t term);
    static std::optional<NodeRecord> decode(std::string_view value);
    // Every check's assignment from the nodes' records; a check two records claim (a write
    // between two others was lost) goes with the newer record.
    static std::map<std::string, Assignment> assignments(const std::map<std::string, NodeRecord>& records);
    // Writes (or, for an empty set, deletes) one node's record with CAS on `expected` (0 = must
    // be absent). Returns the new revision; throws kv::KvError (CONFLICT when someone wrote since).
    int64_t write(const std::string& node, const std::map<std::string, std::string>& checks, int64_t term, int64_t expected);

private:
    kv::KvClient& kv_;
    const std::string prefix_;
    const uint64_t max_check_size_;
};

}  // namespace herd::dispatch

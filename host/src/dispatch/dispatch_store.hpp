// A dispatch pipeline's keys in the KV store, under its prefix:
//
//   <prefix>leader            the election key: {"id", "advertise"}, bound to the leader's lease
//   <prefix>checks/<id>       checks put through the API (check.hpp's record)
//   <prefix>assign/<id>       where each check runs: {"node", "from", "term"}
//
// Assignments carry the term of the leader that wrote them and are written with a
// compare-and-swap on the revision that leader last saw: a deposed leader's write either fails
// (someone wrote since) or, when it slips in, carries an older term than the current leader's,
// which ignores it and puts its own value back.
#pragma once

#include "dispatch/check.hpp"
#include "dispatch/dispatcher.hpp"
#include "kv/kv_client.hpp"

#include <map>
#include <optional>
#include <string>

namespace herd::dispatch {

struct AssignmentRecord {
    Assignment assignment;
    int64_t term = 0;
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

    std::map<std::string, AssignmentRecord> assignments(int64_t* revision = nullptr);
    static std::string encode(const Assignment& a, int64_t term);
    static std::optional<AssignmentRecord> decode(std::string_view value);
    // Writes (or, a nullopt, deletes) one assignment with CAS on `expected` (0 = must be absent).
    // Returns the new revision; throws kv::KvError (CONFLICT when someone wrote since).
    int64_t write(const std::string& id, const std::optional<Assignment>& a, int64_t term, int64_t expected);

private:
    kv::KvClient& kv_;
    const std::string prefix_;
    const uint64_t max_check_size_;
};

}  // namespace herd::dispatch

// The store behind kv_sqlite: keys with values, one revision counter for the whole store,
// compare-and-swap on a key's mod_revision, an events table that watches read (so every process
// sharing the file sees every change, in order), compaction of old events, and leases whose keys
// vanish when they expire. Every write is one IMMEDIATE transaction, fsynced before it returns.
#pragma once

#include <herd/plugin_api.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace herd::kv_sqlite {

struct Entry {
    std::string key, value;
    int64_t create_revision = 0, mod_revision = 0, lease = 0;
};

struct Event {
    herd_kv_event_type type = HERD_KV_EVENT_PUT;
    Entry entry;  // for deletes: key and mod_revision (the deleting revision)
};

class Store {
public:
    // Opens (creating if needed) the database. Throws sdk::Error on failure.
    Store(const std::string& path, std::chrono::milliseconds busy_timeout, int64_t history);
    ~Store();
    Store(const Store&) = delete;

    std::optional<Entry> get(std::string_view key);
    // Entries under prefix in key order, and the store revision they were read at.
    int64_t list(std::string_view prefix, const std::function<void(const Entry&)>& out);
    // expected: HERD_KV_EXPECT_ANY, _ABSENT or a mod_revision. Throws Error(CONFLICT) when it
    // does not hold, Error(NOT_FOUND) for an unknown lease. Returns the new revision.
    int64_t put(std::string_view key, std::string_view value, int64_t expected, int64_t lease);
    // Throws Error(NOT_FOUND) when the key is absent, Error(CONFLICT) when expected does not hold.
    int64_t del(std::string_view key, int64_t expected);

    int64_t revision();
    int64_t compacted();  // events at or below this revision are gone
    // Events with revision in (after, upto] under prefix, in order; `upto` is the store revision
    // read in the same snapshot. Returns false (and nothing) when `after` is already compacted.
    bool events(std::string_view prefix, int64_t after, std::vector<Event>* out, int64_t* upto);

    int64_t lease_grant(std::chrono::milliseconds ttl);
    void lease_keepalive(int64_t lease);  // Error(NOT_FOUND) when unknown or expired
    void lease_revoke(int64_t lease);     // deletes its keys at one revision
    // Revokes every lease past its expiry (whoever granted it). Returns how many.
    int expire_leases();

private:
    class Txn;
    void exec(const char* sql);
    int64_t delete_lease_keys(int64_t lease, int64_t rev);
    void prune(int64_t rev);

    sqlite3* db_ = nullptr;
    std::string path_;
    int64_t history_;
    std::mutex mu_;  // one connection; SQLite serialises writers across processes itself
};

}  // namespace herd::kv_sqlite

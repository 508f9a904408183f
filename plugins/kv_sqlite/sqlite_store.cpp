#include "sqlite_store.hpp"

#include <thread>

#include <herd/sdk/error.hpp>
#include <herd/sdk/kv_support.hpp>

#include <sqlite3.h>

#include <random>
#include <utility>

namespace herd::kv_sqlite {

namespace {

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
    const int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
    const std::string msg = what + ": " + (db ? sqlite3_errmsg(db) : "cannot open");
    if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
        throw sdk::Error(HERD_ERR_TIMEOUT, msg + " (another process held the database longer than the timeout)");
    if ((code & 0xff) == SQLITE_TOOBIG) throw sdk::Error(HERD_ERR_TOO_LARGE, msg);
    throw sdk::Error(HERD_ERR_UNAVAILABLE, msg);
}

int64_t now_unix_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A prepared statement, finalized on scope exit.
class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) fail(db, std::string("prepare ") + sql);
    }
    ~Stmt() { sqlite3_finalize(s_); }
    Stmt& bind(int i, std::string_view blob) {
        sqlite3_bind_blob64(s_, i, blob.data(), blob.size(), SQLITE_STATIC);
        return *this;
    }
    // Text, not a blob: SQLite never finds a TEXT value equal to a BLOB.
    Stmt& text(int i, std::string_view t) {
        sqlite3_bind_text64(s_, i, t.data(), t.size(), SQLITE_STATIC, SQLITE_UTF8);
        return *this;
    }
    Stmt& bind(int i, int64_t v) {
        sqlite3_bind_int64(s_, i, v);
        return *this;
    }
    bool step() {
        int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        fail(db_, "query");
    }
    int64_t i64(int c) { return sqlite3_column_int64(s_, c); }
    std::string blob(int c) {
        const void* p = sqlite3_column_blob(s_, c);
        return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s_, c))) : std::string();
    }
    void reset() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }

private:
    sqlite3* db_;
    sqlite3_stmt* s_ = nullptr;
};

}  // namespace

// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed. Writers of every process queue here.
class Store::Txn {
public:
    Txn(Store& s, bool write) : s_(s) { s_.exec(write ? "BEGIN IMMEDIATE" : "BEGIN"); }
    ~Txn() {
        if (!done_) sqlite3_exec(s_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
        s_.exec("COMMIT");
        done_ = true;
    }

private:
    Store& s_;
    bool done_ = false;
};

Store::Store(const std::string& path, std::chrono::milliseconds busy_timeout, int64_t history)
    : path_(path), history_(history) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
        std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw sdk::Error(HERD_ERR_UNAVAILABLE, "cannot open " + path + ": " + why);
    }
    sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
    // WAL: readers never block the writer; synchronous=FULL: a commit is on disk before it is
    // acknowledged, so nothing acknowledged is lost to kill -9 or a power cut.
    // Switching a fresh file to WAL needs an exclusive lock, and SQLite does not wait for it with
    // the busy handler: processes opening the same new file together retry here, within the
    // busy timeout, instead of failing.
    const auto give_up = std::chrono::steady_clock::now() + busy_timeout;
    while (true) {
        char* err = nullptr;
        const int rc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, &err);
        sqlite3_free(err);
        if (rc == SQLITE_OK) break;
        if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= give_up) exec("PRAGMA journal_mode=WAL");  // throws, saying why
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    exec("PRAGMA synchronous=FULL");
    exec("PRAGMA foreign_keys=OFF");
    Txn t(*this, true);
    exec("CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    exec("INSERT OR IGNORE INTO meta VALUES('revision', 0), ('compacted', 0)");
    exec("CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB NOT NULL, create_rev INTEGER NOT NULL,"
         " mod_rev INTEGER NOT NULL, lease INTEGER NOT NULL)");
    exec("CREATE INDEX IF NOT EXISTS kv_lease ON kv(lease) WHERE lease != 0");
    exec("CREATE TABLE IF NOT EXISTS events(rev INTEGER NOT NULL, key BLOB NOT NULL, type INTEGER NOT NULL,"
         " value BLOB NOT NULL, create_rev INTEGER NOT NULL, lease INTEGER NOT NULL, PRIMARY KEY(rev, key))");
    exec("CREATE TABLE IF NOT EXISTS leases(id INTEGER PRIMARY KEY, ttl_ms INTEGER NOT NULL, expires_ns INTEGER NOT NULL)");
    t.commit();
}

Store::~Store() { sqlite3_close(db_); }

void Store::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "?";
        sqlite3_free(err);
        fail(db_, std::string(sql) + " (" + msg + ")");
    }
}

std::optional<Entry> Store::get(std::string_view key) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT value, create_rev, mod_rev, lease FROM kv WHERE key = ?");
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    return Entry{std::string(key), s.blob(0), s.i64(1), s.i64(2), s.i64(3)};
}

int64_t Store::list(std::string_view prefix, const std::function<void(const Entry&)>& out) {
    std::lock_guard lk(mu_);
    Txn t(*this, false);  // one snapshot: the entries and the revision agree
    Stmt r(db_, "SELECT value FROM meta WHERE name = 'revision'");
    r.step();
    const int64_t rev = r.i64(0);
    const std::string end = sdk::prefix_end(prefix);
    Stmt s(db_, end.empty() ? "SELECT key, value, create_rev, mod_rev, lease FROM kv WHERE key >= ? ORDER BY key"
                            : "SELECT key, value, create_rev, mod_rev, lease FROM kv WHERE key >= ? AND key < ? ORDER BY key");
    s.bind(1, prefix);
    if (!end.empty()) s.bind(2, std::string_view(end));
    while (s.step()) out(Entry{s.blob(0), s.blob(1), s.i64(2), s.i64(3), s.i64(4)});
    t.commit();
    return rev;
}

namespace {
int64_t read_meta(sqlite3* db, const char* name) {
    Stmt s(db, "SELECT value FROM meta WHERE name = ?");
    s.text(1, name);
    if (!s.step()) throw sdk::Error(HERD_ERR_INTERNAL, std::string("the store has no ") + name + " (not a herd kv file?)");
    return s.i64(0);
}
void write_meta(sqlite3* db, const char* name, int64_t v) {
    Stmt s(db, "UPDATE meta SET value = ? WHERE name = ?");
    s.bind(1, v).text(2, name);
    s.step();
}
void add_event(sqlite3* db, int64_t rev, herd_kv_event_type type, std::string_view key, std::string_view value,
               int64_t create_rev, int64_t lease) {
    Stmt s(db, "INSERT INTO events(rev, key, type, value, create_rev, lease) VALUES(?, ?, ?, ?, ?, ?)");
    s.bind(1, rev).bind(2, key).bind(3, static_cast<int64_t>(type)).bind(4, value).bind(5, create_rev).bind(6, lease);
    s.step();
}
std::string conflict(std::string_view key, int64_t expected, std::optional<int64_t> found) {
    std::string k(key);
    std::string e = expected == HERD_KV_EXPECT_ABSENT ? "absent" : "at revision " + std::to_string(expected);
    std::string f = found ? "at revision " + std::to_string(*found) : "absent";
    return "key \"" + k + "\": expected " + e + ", found " + f;
}
}  // namespace

void Store::prune(int64_t rev) {
    const int64_t keep_after = rev - history_;
    if (keep_after <= read_meta(db_, "compacted")) return;
    Stmt s(db_, "DELETE FROM events WHERE rev <= ?");
    s.bind(1, keep_after);
    s.step();
    write_meta(db_, "compacted", keep_after);
}

int64_t Store::put(std::string_view key, std::string_view value, int64_t expected, int64_t lease) {
    std::lock_guard lk(mu_);
    Txn t(*this, true);
    std::optional<int64_t> create, mod;
    {
        Stmt s(db_, "SELECT create_rev, mod_rev FROM kv WHERE key = ?");
        s.bind(1, key);
        if (s.step()) {
            create = s.i64(0);
            mod = s.i64(1);
        }
    }
    if ((expected == HERD_KV_EXPECT_ABSENT && mod) || (expected > 0 && mod != expected))
        throw sdk::Error(HERD_ERR_CONFLICT, conflict(key, expected, mod));
    if (lease != 0) {
        Stmt l(db_, "SELECT 1 FROM leases WHERE id = ? AND expires_ns > ?");
        l.bind(1, lease).bind(2, now_unix_ns());
        if (!l.step()) throw sdk::Error(HERD_ERR_NOT_FOUND, "lease " + std::to_string(lease) + " does not exist or expired");
    }
    const int64_t rev = read_meta(db_, "revision") + 1;
    const int64_t create_rev = create.value_or(rev);
    {
        Stmt s(db_, "INSERT OR REPLACE INTO kv(key, value, create_rev, mod_rev, lease) VALUES(?, ?, ?, ?, ?)");
        s.bind(1, key).bind(2, value).bind(3, create_rev).bind(4, rev).bind(5, lease);
        s.step();
    }
    add_event(db_, rev, HERD_KV_EVENT_PUT, key, value, create_rev, lease);
    write_meta(db_, "revision", rev);
    prune(rev);
    t.commit();
    return rev;
}

int64_t Store::del(std::string_view key, int64_t expected) {
    std::lock_guard lk(mu_);
    Txn t(*this, true);
    std::optional<int64_t> mod;
    {
        Stmt s(db_, "SELECT mod_rev FROM kv WHERE key = ?");
        s.bind(1, key);
        if (s.step()) mod = s.i64(0);
    }
    if (!mod) throw sdk::Error(HERD_ERR_NOT_FOUND, "key \"" + std::string(key) + "\" does not exist");
    if (expected == HERD_KV_EXPECT_ABSENT || (expected > 0 && *mod != expected))
        throw sdk::Error(HERD_ERR_CONFLICT, conflict(key, expected, mod));
    const int64_t rev = read_meta(db_, "revision") + 1;
    {
        Stmt s(db_, "DELETE FROM kv WHERE key = ?");
        s.bind(1, key);
        s.step();
    }
    add_event(db_, rev, HERD_KV_EVENT_DELETE, key, "", 0, 0);
    write_meta(db_, "revision", rev);
    prune(rev);
    t.commit();
    return rev;
}

int64_t Store::revision() {
    std::lock_guard lk(mu_);
    return read_meta(db_, "revision");
}

int64_t Store::compacted() {
    std::lock_guard lk(mu_);
    return read_meta(db_, "compacted");
}

bool Store::events(std::string_view prefix, int64_t after, std::vector<Event>* out, int64_t* upto) {
    std::lock_guard lk(mu_);
    Txn t(*this, false);
    *upto = read_meta(db_, "revision");
    if (after < read_meta(db_, "compacted")) {
        t.commit();
        return false;
    }
    const std::string end = sdk::prefix_end(prefix);
    Stmt s(db_, end.empty() ? "SELECT rev, key, type, value, create_rev, lease FROM events WHERE rev > ? AND rev <= ?"
                              " AND key >= ? ORDER BY rev, key"
                            : "SELECT rev, key, type, value, create_rev, lease FROM events WHERE rev > ? AND rev <= ?"
                              " AND key >= ? AND key < ? ORDER BY rev, key");
    s.bind(1, after).bind(2, *upto).bind(3, prefix);
    if (!end.empty()) s.bind(4, std::string_view(end));
    while (s.step())
        out->push_back(Event{static_cast<herd_kv_event_type>(s.i64(2)), Entry{s.blob(1), s.blob(3), s.i64(4), s.i64(0), s.i64(5)}});
    t.commit();
    return true;
}

int64_t Store::lease_grant(std::chrono::milliseconds ttl) {
    if (ttl.count() <= 0) throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "a lease needs a positive TTL");
    std::lock_guard lk(mu_);
    Txn t(*this, true);
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    int64_t id = 0;
    for (;;) {  // ids are random so processes sharing the file never collide
        id = static_cast<int64_t>(rng() >> 2) + 1;
        Stmt s(db_, "SELECT 1 FROM leases WHERE id = ?");
        s.bind(1, id);
        if (!s.step()) break;
    }
    Stmt s(db_, "INSERT INTO leases(id, ttl_ms, expires_ns) VALUES(?, ?, ?)");
    s.bind(1, id).bind(2, static_cast<int64_t>(ttl.count())).bind(3, now_unix_ns() + ttl.count() * 1000000);
    s.step();
    t.commit();
    return id;
}

void Store::lease_keepalive(int64_t lease) {
    std::lock_guard lk(mu_);
    Txn t(*this, true);
    Stmt s(db_, "UPDATE leases SET expires_ns = ? + ttl_ms * 1000000 WHERE id = ? AND expires_ns > ?");
    const int64_t now = now_unix_ns();
    s.bind(1, now).bind(2, lease).bind(3, now);
    s.step();
    if (sqlite3_changes(db_) == 0) throw sdk::Error(HERD_ERR_NOT_FOUND, "lease " + std::to_string(lease) + " does not exist or expired");
    t.commit();
}

int64_t Store::delete_lease_keys(int64_t lease, int64_t rev) {
    std::vector<std::string> keys;
    {
        Stmt s(db_, "SELECT key FROM kv WHERE lease = ?");
        s.bind(1, lease);
        while (s.step()) keys.push_back(s.blob(0));
    }
    for (const auto& k : keys) {
        Stmt d(db_, "DELETE FROM kv WHERE key = ?");
        d.bind(1, std::string_view(k));
        d.step();
        add_event(db_, rev, HERD_KV_EVENT_DELETE, k, "", 0, 0);
    }
    Stmt l(db_, "DELETE FROM leases WHERE id = ?");
    l.bind(1, lease);
    l.step();
    return static_cast<int64_t>(keys.size());
}

void Store::lease_revoke(int64_t lease) {
    std::lock_guard lk(mu_);
    Txn t(*this, true);
    {
        Stmt s(db_, "SELECT 1 FROM leases WHERE id = ?");
        s.bind(1, lease);
        if (!s.step()) throw sdk::Error(HERD_ERR_NOT_FOUND, "lease " + std::to_string(lease) + " does not exist");
    }
    const int64_t rev = read_meta(db_, "revision") + 1;
    if (delete_lease_keys(lease, rev) > 0) {  // all its keys go at one revision, as in etcd
        write_meta(db_, "revision", rev);
        prune(rev);
    }
    t.commit();
}

int Store::expire_leases() {
    std::lock_guard lk(mu_);
    {  // the common case, nothing expired, costs a read, not the write lock
        Stmt q(db_, "SELECT 1 FROM leases WHERE expires_ns <= ? LIMIT 1");
        q.bind(1, now_unix_ns());
        if (!q.step()) return 0;
    }
    Txn t(*this, true);
    std::vector<int64_t> expired;
    {
        Stmt s(db_, "SELECT id FROM leases WHERE expires_ns <= ?");
        s.bind(1, now_unix_ns());
        while (s.step()) expired.push_back(s.i64(0));
    }
    for (int64_t id : expired) {
        const int64_t rev = read_meta(db_, "revision") + 1;
        if (delete_lease_keys(id, rev) > 0) {
            write_meta(db_, "revision", rev);
            prune(rev);
        }
    }
    t.commit();
    return static_cast<int>(expired.size());
}

}  // namespace herd::kv_sqlite

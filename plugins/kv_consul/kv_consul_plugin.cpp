// kv_consul — herd's KV table on Consul's KV HTTP API.
//
//   [[kv]]
//   name = "shared"
//   plugin = "kv_consul"
//   address = "http://127.0.0.1:8500"
//   prefix = "herd/"          # every key lives under it
//   token = "..."             # ACL token (X-Consul-Token)
//   datacenter = "dc1"        # default: the agent's own
//   timeout = "5s"
//   ca_file = "..."           # TLS, optional: cert_file and key_file for client certificates
//   watch_wait = "10s"        # how long one blocking query waits
//   watch_rate = 1.0          # blocking queries per second and watch (token bucket, burst 2)
//
// How the ABI maps onto Consul (docs/configuration.md has the user-facing version):
// - revisions are Consul's raft indexes (ModifyIndex / X-Consul-Index);
// - CAS is ?cas=N (0 = create only);
// - Consul's PUT says only true/false: every write tags the entry's Flags with a random nonce
//   and reads it back, so the revision returned is exactly the write's, or - when another writer
//   already replaced it - one below the replacement's (later than the write, never equal to a
//   revision the key will have again, so a CAS based on it fails as it must);
// - leases are sessions (behavior "delete"); an ephemeral put is ?acquire;
// - a watch is a blocking query on the prefix, diffed against the last answer: it delivers the
//   store's changes in revision order, but writes that fall between two answers are coalesced
//   (Consul keeps no history). When the index goes backwards it resets, as Consul's docs say.
#include "consul_client.hpp"

#include <herd/sdk/json_config.hpp>
#include <herd/sdk/kv_support.hpp>
#include <herd/sdk/plugin.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <random>

namespace herd::kv_consul {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

struct Options {
    ClientOptions client;
    std::string prefix;
    milliseconds watch_wait{10000};
    double watch_rate = 1.0;
};

Options parse(const sdk::CreateContext& ctx) {
    sdk::JsonConfig cfg(ctx.config_json);
    Options o;
    auto address = cfg.string("address");
    if (!address) throw sdk::ConfigError("address", "name the Consul agent, e.g. \"http://127.0.0.1:8500\"");
    o.client.address = *address;
    if (o.client.address.rfind("http://", 0) != 0 && o.client.address.rfind("https://", 0) != 0)
        throw sdk::ConfigError("address", "\"" + o.client.address + "\" must start with http:// or https://");
    while (!o.client.address.empty() && o.client.address.back() == '/') o.client.address.pop_back();
    o.prefix = cfg.string("prefix", "");
    if (!valid_key(o.prefix))
        throw sdk::ConfigError("prefix", "\"" + o.prefix + "\" is not a key Consul accepts (A-Z a-z 0-9 , - _ . /, no leading /)");
    o.client.token = cfg.string("token", "");
    o.client.datacenter = cfg.string("datacenter", "");
    o.client.timeout = cfg.duration("timeout").value_or(o.client.timeout);
    auto file = [&](const char* key) { return ctx.path(cfg.string(key, "")); };
    o.client.tls.ca_file = file("ca_file");
    o.client.tls.cert_file = file("cert_file");
    o.client.tls.key_file = file("key_file");
    o.watch_wait = cfg.duration("watch_wait").value_or(o.watch_wait);
    if (o.watch_wait <= milliseconds(0) || o.watch_wait > std::chrono::minutes(10))
        throw sdk::ConfigError("watch_wait", "must be between 1ms and 10m (Consul's maximum)");
    o.watch_rate = cfg.number("watch_rate").value_or(o.watch_rate);
    if (!(o.watch_rate > 0)) throw sdk::ConfigError("watch_rate", "must be a positive number of queries per second");
    cfg.finish();
    if (o.client.tls.cert_file.empty() != o.client.tls.key_file.empty())
        throw sdk::ConfigError(o.client.tls.cert_file.empty() ? "key_file" : "cert_file", "cert_file and key_file go together");
    return o;
}

// Blocking queries per second, as Consul's docs advise: a token bucket (burst 2) so a busy
// prefix cannot turn a watch into a tight loop against the agent.
class TokenBucket {
public:
    TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}
    // Waits for a token; false when stop was requested meanwhile.
    bool take(sdk::WatchSet::Stop& stop) {
        using clock = std::chrono::steady_clock;
        auto now = clock::now();
        tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
        last_ = now;
        if (tokens_ < 1) {
            const auto need = std::chrono::duration<double>((1 - tokens_) / rate_);
            if (!stop.sleep(std::chrono::duration_cast<milliseconds>(need) + milliseconds(1))) return false;
            now = clock::now();
            tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
            last_ = now;
        }
        tokens_ = std::max(0.0, tokens_ - 1);
        return true;
    }

private:
    double rate_, burst_, tokens_;
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

class ConsulKv final : public sdk::Kv {
public:
    explicit ConsulKv(const sdk::CreateContext& ctx)
        : host_(ctx.host), name_(ctx.instance_name), opts_(parse(ctx)), client_(opts_.client) {}
    ~ConsulKv() override { watches_.stop_all(); }

    void get(std::string_view key, const sdk::KvEntrySink& out) override {
        const std::string k = full(key);
        KvRead r = guarded(key, [&] { return client_.read(k, false); });
        if (!r.found || r.pairs.empty()) throw sdk::Error(HERD_ERR_NOT_FOUND, where(key) + "does not exist");
        emit(r.pairs.front(), out);
    }

    int64_t list(std::string_view prefix, const sdk::KvEntrySink& out) override {
        const std::string p = full(prefix);
        KvRead r = guarded(prefix, [&] { return client_.read(p, true); });
        remember(p, r);
        for (const auto& pair : r.pairs) emit(pair, out);
        return static_cast<int64_t>(r.index);
    }

    int64_t put(std::string_view key, std::string_view value, int64_t expected, int64_t lease) override {
        const std::string k = full(key);
        const uint64_t tag = nonce();
        std::string query = "flags=" + std::to_string(tag);
        bool done = false;
        if (lease) {
            const std::string session = session_of(lease);
            if (expected > 0)
                throw sdk::Error(HERD_ERR_UNSUPPORTED, where(key) + "Consul cannot make one write both conditional on a revision "
                                                                    "and tied to a session (use EXPECT_ANY or EXPECT_ABSENT with a lease)");
            if (expected == HERD_KV_EXPECT_ABSENT) {
                KvRead now = guarded(key, [&] { return client_.read(k, false); });
                if (now.found) conflict(key, expected, now);
            }
            try {
                done = client_.put(k, value, query + "&acquire=" + session);
            } catch (const sdk::Error& e) {
                if (std::string(e.what()).find("invalid session") != std::string::npos)
                    throw sdk::Error(HERD_ERR_NOT_FOUND, where(key) + "lease " + std::to_string(lease) + " (session " + session + ") expired");
                throw sdk::Error(e.status(), where(key) + e.what());
            }
            if (!done) throw sdk::Error(HERD_ERR_CONFLICT, where(key) + "is held by another session (or in its lock-delay)");
        } else {
            if (expected == HERD_KV_EXPECT_ABSENT) query += "&cas=0";
            else if (expected > 0) query += "&cas=" + std::to_string(expected);
            done = guarded(key, [&] { return client_.put(k, value, query); });
            if (!done) conflict(key, expected, guarded(key, [&] { return client_.read(k, false); }));
        }
        // Which revision the write got: read the entry back and recognise the tag.
        KvRead back = guarded(key, [&] { return client_.read(k, false); });
        if (back.found && !back.pairs.empty()) {
            const KvPair& p = back.pairs.front();
            return static_cast<int64_t>(p.flags == tag ? p.modify_index : p.modify_index - 1);
        }
        return static_cast<int64_t>(back.index) - 1;  // deleted since: the delete came after the write
    }

    int64_t del(std::string_view key, int64_t expected) override {
        const std::string k = full(key);
        // Consul says "true" for deleting a missing key: look first, then delete what was seen.
        for (int attempt = 0; attempt < 10; ++attempt) {
            KvRead now = guarded(key, [&] { return client_.read(k, false); });
            if (!now.found) throw sdk::Error(HERD_ERR_NOT_FOUND, where(key) + "does not exist");
            const uint64_t seen = now.pairs.front().modify_index;
            if (expected == HERD_KV_EXPECT_ABSENT || (expected > 0 && seen != static_cast<uint64_t>(expected)))
                conflict(key, expected, now);
            if (guarded(key, [&] { return client_.del(k, "cas=" + std::to_string(seen)); })) {
                // The delete's index is its tombstone's: the highest index under the key as a prefix.
                return static_cast<int64_t>(guarded(key, [&] { return client_.read(k, true); }).index);
            }
            // Changed between the look and the delete: with a given revision that is a conflict,
            // unconditional deletes look again.
            if (expected > 0) conflict(key, expected, guarded(key, [&] { return client_.read(k, false); }));
        }
        throw sdk::Error(HERD_ERR_CONFLICT, where(key) + "kept changing during 10 delete attempts");
    }

    int64_t lease_grant(int64_t ttl_ms) override {
        // Consul's session TTLs run from 10 s to 24 h, and Consul ends a session only after twice
        // its TTL without renewal: a shorter lease is granted as 10 s.
        const int64_t ttl_s = std::clamp<int64_t>((ttl_ms + 999) / 1000, 10, 86400);
        const std::string id = guarded("", [&] {
            return client_.session_create({{"Name", "herd:" + name_},
                                           {"TTL", std::to_string(ttl_s) + "s"},
                                           {"Behavior", "delete"},
                                           {"LockDelay", "0s"}});
        });
        const int64_t lease = lease_id(id);
        std::lock_guard lk(mu_);
        sessions_[lease] = id;
        return lease;
    }
    void lease_keepalive(int64_t lease) override {
        const std::string id = session_of(lease);
        if (!guarded("", [&] { return client_.session_renew(id); })) {
            forget(lease);
            throw sdk::Error(HERD_ERR_NOT_FOUND, "kv_consul " + opts_.client.address + ": lease " + std::to_string(lease) + " (session " + id + ") expired");
        }
    }
    void lease_revoke(int64_t lease) override {
        const std::string id = session_of(lease);
        guarded("", [&] {
            client_.session_destroy(id);
            return 0;
        });
        forget(lease);
    }

    herd_kv_watch* watch(std::string_view prefix, int64_t from, const herd_kv_watch_sink* sink) override {
        return watches_.start([this, p = full(prefix), from, sink](sdk::WatchSet::Stop& stop) { run_watch(stop, p, from, sink); });
    }
    void unwatch(herd_kv_watch* handle) noexcept override { watches_.stop(handle); }

private:
    using Snapshot = std::map<std::string, KvPair>;  // full key -> entry

    std::string full(std::string_view key) const {
        std::string k = opts_.prefix + std::string(key);
        if (!valid_key(k))
            throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, where(key) + "has bytes Consul does not accept in keys (only A-Z a-z 0-9 , - _ . / and no leading /): nothing was written");
        return k;
    }
    std::string where(std::string_view key) const {
        return "kv_consul " + opts_.client.address + ": key \"" + sdk::printable_key(key) + "\" ";
    }
    // Runs a client call; its errors get the key in front.
    template <class F>
    auto guarded(std::string_view key, F&& f) -> decltype(f()) {
        try {
            return f();
        } catch (const sdk::Error& e) {
            throw sdk::Error(e.status(), (key.empty() ? "kv_consul: " : where(key)) + e.what());
        }
    }

    [[noreturn]] void conflict(std::string_view key, int64_t expected, const KvRead& now) const {
        const std::string e = expected == HERD_KV_EXPECT_ABSENT ? "absent" : "at revision " + std::to_string(expected);
        const std::string f = now.found && !now.pairs.empty() ? "at revision " + std::to_string(now.pairs.front().modify_index) : "absent";
        if (!now.found && expected > 0) throw sdk::Error(HERD_ERR_CONFLICT, where(key) + "expected " + e + ", found absent");
        throw sdk::Error(HERD_ERR_CONFLICT, where(key) + "expected " + e + ", found " + f);
    }

    void emit(const KvPair& p, const sdk::KvEntrySink& out) const {
        out(std::string_view(p.key).substr(opts_.prefix.size()), p.value, static_cast<int64_t>(p.create_index),
            static_cast<int64_t>(p.modify_index), p.session.empty() ? 0 : lease_id(p.session));
    }

    uint64_t nonce() {
        std::lock_guard lk(mu_);
        return std::uniform_int_distribution<uint64_t>(1, (uint64_t(1) << 63) - 1)(rng_);
    }

    // A session's lease number: its first 15 hex digits, the same in every process.
    static int64_t lease_id(const std::string& session) {
        int64_t v = 0;
        int digits = 0;
        for (char c : session) {
            if (!std::isxdigit(static_cast<unsigned char>(c))) continue;
            v = v * 16 + (std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10);
            if (++digits == 15) break;
        }
        return v == 0 ? 1 : v;
    }
    std::string session_of(int64_t lease) {
        std::lock_guard lk(mu_);
        auto it = sessions_.find(lease);
        if (it == sessions_.end())
            throw sdk::Error(HERD_ERR_NOT_FOUND, "kv_consul " + opts_.client.address + ": lease " + std::to_string(lease) + " was not granted by this instance or has ended");
        return it->second;
    }
    void forget(int64_t lease) {
        std::lock_guard lk(mu_);
        sessions_.erase(lease);
    }

    // The last listings, so a watch starting from a listing's revision can tell what was deleted
    // since (Consul answers with the present only).
    void remember(const std::string& prefix, const KvRead& r) {
        Snapshot s;
        for (const auto& p : r.pairs) s.emplace(p.key, p);
        std::lock_guard lk(mu_);
        listings_.push_back({prefix, r.index, std::move(s)});
        if (listings_.size() > 16) listings_.pop_front();
    }
    std::optional<Snapshot> listing(const std::string& prefix, uint64_t index) {
        std::lock_guard lk(mu_);
        for (auto it = listings_.rbegin(); it != listings_.rend(); ++it)
            if (it->prefix == prefix && it->index == index) return it->entries;
        return std::nullopt;
    }

    void run_watch(sdk::WatchSet::Stop& stop, const std::string& prefix, int64_t from, const herd_kv_watch_sink* sink) {
        TokenBucket bucket(opts_.watch_rate, 2);
        const milliseconds min_backoff(1000), max_backoff(60000);
        milliseconds backoff = min_backoff;
        uint64_t last = from > 0 ? static_cast<uint64_t>(from) : 0;
        std::optional<Snapshot> known = from > 0 ? listing(prefix, last) : Snapshot{};
        while (!stop.requested()) {
            if (!bucket.take(stop)) return;
            KvRead r;
            try {
                // Never block on an index below 1; without a known state, ask for the present.
                const uint64_t ask = known ? std::max<uint64_t>(last, 1) : 0;
                r = client_.read(prefix, true, ask, opts_.watch_wait, &stop.flag());
                backoff = min_backoff;
            } catch (const sdk::Error& e) {
                if (stop.requested()) return;
                sink->error(sink->ctx, e.status(), sdk::to_str(std::string("kv_consul ") + opts_.client.address + ": watch on \"" + prefix + "\": " + e.what()));
                if (!stop.sleep(backoff)) return;
                backoff = std::min(backoff * 2, max_backoff);
                continue;
            }
            Snapshot now;
            for (auto& p : r.pairs) now.emplace(p.key, std::move(p));
            if (!known) {
                // Started from a revision whose state is not known here: nothing changed since
                // (the index did not move), or the subscriber must relist.
                if (r.index > last) sink->reset(sink->ctx, static_cast<int64_t>(r.index));
                known = std::move(now);
                last = r.index;
                continue;
            }
            if (r.index < last) {
                // The index went backwards (snapshot restore, tombstones reaped): Consul's rule
                // is to start over from 0; the subscriber relists.
                sink->reset(sink->ctx, static_cast<int64_t>(r.index));
                known = std::move(now);
                last = 0;
                continue;
            }
            if (r.index == last) continue;  // the wait passed, nothing changed
            deliver(*known, now, r.index, sink);
            known = std::move(now);
            last = r.index;
        }
    }

    // The changes from `before` to `after`, in revision order: puts at their ModifyIndex,
    // deletes at the answer's index (their tombstone's, or later when several coalesced).
    void deliver(const Snapshot& before, const Snapshot& after, uint64_t index, const herd_kv_watch_sink* sink) const {
        struct Change {
            herd_kv_event_type type;
            const KvPair* pair;
            std::string key;
            int64_t revision;
        };
        std::vector<Change> changes;
        for (const auto& [k, p] : after) {
            auto it = before.find(k);
            if (it == before.end() || it->second.modify_index != p.modify_index)
                changes.push_back({HERD_KV_EVENT_PUT, &p, k, static_cast<int64_t>(p.modify_index)});
        }
        for (const auto& [k, p] : before)
            if (!after.count(k)) changes.push_back({HERD_KV_EVENT_DELETE, nullptr, k, static_cast<int64_t>(index)});
        if (changes.empty()) return;
        std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) { return a.revision < b.revision; });
        std::vector<herd_kv_entry> entries(changes.size());
        std::vector<herd_kv_event> events(changes.size());
        std::vector<const herd_kv_event*> ptrs(changes.size());
        for (size_t i = 0; i < changes.size(); ++i) {
            const Change& c = changes[i];
            const std::string_view key = std::string_view(c.key).substr(opts_.prefix.size());
            entries[i] = {{sizeof(herd_kv_entry), HERD_ABI_MAJOR, HERD_ABI_MINOR}, sdk::to_str(key),
                          c.pair ? sdk::to_str(c.pair->value) : herd_str{nullptr, 0},
                          c.pair ? static_cast<int64_t>(c.pair->create_index) : 0, c.revision,
                          c.pair && !c.pair->session.empty() ? lease_id(c.pair->session) : 0};
            events[i] = {{sizeof(herd_kv_event), HERD_ABI_MAJOR, HERD_ABI_MINOR}, c.type, &entries[i]};
            ptrs[i] = &events[i];
        }
        sink->events(sink->ctx, ptrs.data(), ptrs.size());
    }

    struct Listing {
        std::string prefix;
        uint64_t index;
        Snapshot entries;
    };

    sdk::Host host_;
    std::string name_;
    Options opts_;
    ConsulClient client_;
    std::mutex mu_;
    std::mt19937_64 rng_{std::random_device{}()};
    std::map<int64_t, std::string> sessions_;  // lease -> session ID, for the leases granted here
    std::deque<Listing> listings_;
    sdk::WatchSet watches_;  // last: its threads stop before the rest goes
};

}  // namespace
}  // namespace herd::kv_consul

HERD_PLUGIN("kv_consul", "0.1.0", "herd's KV table on Consul's KV HTTP API",
            herd::sdk::factory<herd::kv_consul::ConsulKv>("kv_consul", "indexes, CAS, blocking-query watches and sessions on Consul"))

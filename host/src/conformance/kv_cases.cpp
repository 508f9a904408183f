// KV cases: the contract of herd_kv_ops, as sharding, dispatch and leader election rely on it.
// Every key lives under a prefix of its own run, so the kit may point at a store others use; a
// case removes what it wrote. Where the ABI allows two answers (a backend without history may
// coalesce a watch's writes; one without binary keys refuses them), the case accepts either, and
// `--require history|binary-keys|leases` turns the weaker answer into a failure.
#include "conformance/kv_driver.hpp"
#include "conformance/suite.hpp"

#include <herd/sdk/kv_support.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <thread>

namespace herd::conformance {

namespace {

std::string got(const KvResult& r) {
    return std::string(status_text(r.status)) + (r.message.empty() ? "" : " (" + r.message + ")");
}

// The store's view of a prefix: key -> mod_revision.
std::map<std::string, int64_t> state_of(const KvDriver& kv, const std::string& prefix) {
    auto l = kv.list_entries(prefix);
    std::map<std::string, int64_t> out;
    for (size_t i = 0; i < l.keys.size(); ++i) out[l.keys[i]] = l.revisions[i];
    return out;
}

std::map<std::string, int64_t> replay(KvWatcher& w, std::map<std::string, int64_t> state) {
    std::lock_guard lk(w.mu);
    for (auto& [type, key, rev] : w.events) {
        if (type == HERD_KV_EVENT_PUT) state[key] = rev;
        else state.erase(key);
    }
    return state;
}

// Removes what a case wrote (best effort: a failing store has been reported already).
struct Cleanup {
    const KvDriver& kv;
    std::string prefix;
    ~Cleanup() {
        auto keys = kv.list_entries(prefix).keys;
        std::vector<std::thread> threads;
        for (size_t t = 0; t < 8; ++t)
            threads.emplace_back([&, t] {
                for (size_t i = t; i < keys.size(); i += 8) kv.del(keys[i]);
            });
        for (auto& th : threads) th.join();
    }
};

void require_kv(Context& c) {
    c.require(c.factory().kv != nullptr, "the factory's kv table is NULL");
    const auto& ops = *c.factory().kv;
    c.require(ops.get && ops.list && ops.put && ops.del && ops.watch && ops.unwatch,
              "get, list, put, del, watch and unwatch must all be set");
}

// What every KV case starts with: an instance of the factory, its table, and a key prefix of
// this run that is emptied when the case ends.
struct Store {
    std::unique_ptr<plugins::Instance> inst;
    KvDriver kv;
    std::string p;
    std::optional<Cleanup> cleanup;
    Store(Context& c, const std::string& dir) : inst((require_kv(c), c.create())), kv(*inst), p(c.unique_prefix() + dir) {
        cleanup.emplace(Cleanup{kv, p});
    }
};

void basic(Context& c) {
    Store store(c, "basic/");
    const KvDriver& kv = store.kv;
    const std::string& p = store.p;
    auto a = kv.put(p + "a/1", "one"), b = kv.put(p + "a/2", "two"), d = kv.put(p + "b/1", "three");
    c.require(a.status == HERD_OK && b.status == HERD_OK && d.status == HERD_OK,
              "three unconditional puts: " + got(a) + ", " + got(b) + ", " + got(d));
    c.check(a.revision > 0 && a.revision < b.revision && b.revision < d.revision,
            "revisions of successive puts must strictly increase: " + std::to_string(a.revision) + ", " +
                std::to_string(b.revision) + ", " + std::to_string(d.revision));
    auto g = kv.get_entry(p + "a/1");
    c.check(g.status == HERD_OK && g.value == "one", "get of a key just put: " + std::string(status_text(g.status)) + " " + g.message);
    c.check(g.calls == 1, "get must call the entry sink once, called " + std::to_string(g.calls));
    c.check(g.revision == a.revision, "get's mod_revision (" + std::to_string(g.revision) +
                                          ") must be the revision put returned (" + std::to_string(a.revision) + ")");
    auto absent = kv.get_entry(p + "nope");
    c.check(absent.status == HERD_ERR_NOT_FOUND && absent.calls == 0,
            "get of an absent key must be NOT_FOUND without an entry, got " + std::string(status_text(absent.status)));
    auto l = kv.list_entries(p + "a/");
    c.check(l.status == HERD_OK, "list: " + l.message);
    c.check(l.keys == std::vector<std::string>{p + "a/1", p + "a/2"},
            "list of a prefix must give exactly its keys, in key order (got " + std::to_string(l.keys.size()) + " keys)");
    c.check(l.revision >= b.revision, "a listing's revision (" + std::to_string(l.revision) +
                                          ") must be at least the last write's (" + std::to_string(b.revision) + ")");
    c.check(kv.list_entries(p + "zzz/").keys.empty(), "list of an empty prefix must be empty");
    c.check(kv.list_entries(p + "a").keys.size() == 2, "a prefix is a byte prefix: \"a\" matches \"a/1\" and \"a/2\"");
    auto over = kv.put(p + "a/1", "uno");
    c.check(over.status == HERD_OK && over.revision > d.revision, "overwriting: " + got(over));
    c.check(kv.get(p + "a/1") && kv.get(p + "a/1")->first == "uno", "get after an overwrite must give the new value");
    auto gone = kv.del(p + "a/1");
    c.check(gone.status == HERD_OK && gone.revision > over.revision, "delete: " + got(gone) + " at revision " + std::to_string(gone.revision));
    c.check(!kv.get(p + "a/1"), "a deleted key must be gone");
    auto again = kv.del(p + "a/1");
    c.check(again.status == HERD_ERR_NOT_FOUND, "deleting an absent key must be NOT_FOUND, got " + got(again));
    c.check(again.message.find(sdk::printable_key(p + "a/1")) != std::string::npos,
            "the NOT_FOUND message must name the key, got: " + again.message);
    auto after = kv.put(p + "a/3", "x");
    c.check(after.revision > gone.revision, "a delete takes a revision: the next put's must be greater");
    auto empty = kv.put(p + "empty", "");
    c.check(empty.status == HERD_OK && kv.get(p + "empty") && kv.get(p + "empty")->first.empty(),
            "an empty value is a value: " + got(empty));
}

void cas(Context& c) {
    Store store(c, "cas/");
    const KvDriver& kv = store.kv;
    const std::string& p = store.p;
    const std::string k = p + "c";
    auto created = kv.put(k, "1", HERD_KV_EXPECT_ABSENT);
    c.require(created.status == HERD_OK, "put expecting absent on a new key: " + got(created));
    auto twice = kv.put(k, "2", HERD_KV_EXPECT_ABSENT);
    c.check(twice.status == HERD_ERR_CONFLICT, "put expecting absent on an existing key must be CONFLICT, got " + got(twice));
    c.check(twice.message.find(sdk::printable_key(k)) != std::string::npos &&
                twice.message.find(std::to_string(created.revision)) != std::string::npos,
            "a CONFLICT must name the key and say what was found (revision " + std::to_string(created.revision) +
                "), got: " + twice.message);
    auto swapped = kv.put(k, "3", created.revision);
    c.check(swapped.status == HERD_OK && swapped.revision > created.revision, "put expecting the current revision: " + got(swapped));
    auto stale = kv.put(k, "4", created.revision);
    c.check(stale.status == HERD_ERR_CONFLICT, "put expecting a stale revision must be CONFLICT, got " + got(stale));
    c.check(stale.message.find(std::to_string(swapped.revision)) != std::string::npos,
            "a stale CONFLICT must say the revision found (" + std::to_string(swapped.revision) + "), got: " + stale.message);
    c.check(kv.get(k) && kv.get(k)->first == "3", "a failed CAS must write nothing");
    auto missing = kv.put(p + "missing", "x", 12345);
    c.check(missing.status == HERD_ERR_CONFLICT, "put expecting a revision on an absent key must be CONFLICT, got " + got(missing));
    c.check(!kv.get(p + "missing"), "a failed CAS must not create the key");
    auto del_stale = kv.del(k, created.revision);
    c.check(del_stale.status == HERD_ERR_CONFLICT, "delete expecting a stale revision must be CONFLICT, got " + got(del_stale));
    c.check(kv.get(k).has_value(), "a failed conditional delete must keep the key");
    auto del_ok = kv.del(k, swapped.revision);
    c.check(del_ok.status == HERD_OK, "delete expecting the current revision: " + got(del_ok));
    c.check(!kv.get(k), "a conditional delete that held must remove the key");
    auto del_absent = kv.del(k, swapped.revision);
    c.check(del_absent.status == HERD_ERR_NOT_FOUND || del_absent.status == HERD_ERR_CONFLICT,
            "a conditional delete of an absent key must be NOT_FOUND (or CONFLICT), got " + got(del_absent));
    auto recreate = kv.put(k, "5", HERD_KV_EXPECT_ABSENT);
    c.check(recreate.status == HERD_OK, "after a delete, expecting absent holds again: " + got(recreate));
}

void cas_threads(Context& c) {
    Store store(c, "counter/");
    const KvDriver& kv = store.kv;
    const std::string& p = store.p;
    const std::string k = p + "n";
    c.require(kv.put(k, "0").status == HERD_OK, "cannot write the counter");
    std::atomic<int> unexpected{0};
    std::mutex mu;
    std::string first_unexpected;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 15 && unexpected == 0;) {
                auto cur = kv.get(k);
                if (!cur) {
                    ++unexpected;
                    break;
                }
                auto r = kv.put(k, std::to_string(std::stoi(cur->first) + 1), cur->second);
                if (r.status == HERD_OK) {
                    ++i;
                } else if (r.status != HERD_ERR_CONFLICT) {
                    std::lock_guard lk(mu);
                    if (unexpected++ == 0) first_unexpected = got(r);
                }
            }
        });
    for (auto& t : threads) t.join();
    c.check(unexpected == 0, "a CAS under contention may only succeed or conflict, got " + first_unexpected);
    auto final_value = kv.get(k);
    c.check(final_value && final_value->first == "120",
            "8 threads x 15 CAS increments must count to 120, the store says " + (final_value ? final_value->first : "nothing"));
}

void watch_order(Context& c) {
    Store store(c, "w/");
    const KvDriver& kv = store.kv;
    const std::string& p = store.p;
    kv.put(p + "old", "before");
    kv.put(p + "doomed", "before");
    auto listed = kv.list_entries(p);
    const auto start = state_of(kv, p);
    KvWatcher w(kv, p, listed.revision);
    c.require(w.status == HERD_OK, "watch from a listing's revision: " + std::string(status_text(w.status)) + " " + w.message);

    std::vector<int64_t> expect;
    for (int i = 0; i < 5; ++i) {
        expect.push_back(kv.put(p + std::to_string(i), "v").revision);
        c.require(eventually([&] { return w.count() >= expect.size(); }, c.options().wait),
                  "put " + std::to_string(i + 1) + " was not delivered within --wait");
    }
    kv.put(c.unique_prefix() + "elsewhere", "not under the prefix");
    expect.push_back(kv.del(p + "doomed").revision);
    c.require(eventually([&] { return w.count() >= expect.size(); }, c.options().wait), "the delete was not delivered within --wait");
    c.check(w.revisions() == expect, "one change at a time: every change exactly once, in order, and nothing from outside the prefix");
    {
        std::lock_guard lk(w.mu);
        c.check(!w.events.empty() && std::get<0>(w.events.back()) == HERD_KV_EVENT_DELETE &&
                    std::get<1>(w.events.back()) == p + "doomed",
                "a delete must arrive as a DELETE event of its key");
    }

    std::vector<int64_t> burst;
    for (int i = 0; i < 30; ++i) burst.push_back(kv.put(p + "b" + std::to_string(i % 7), std::to_string(i)).revision);
    burst.push_back(kv.del(p + "b3").revision);
    const auto final_state = state_of(kv, p);
    c.check(eventually([&] { return replay(w, start) == final_state; }, c.options().wait),
            "after a burst of 31 writes the events must add up to what the store holds");
    const auto revs = w.revisions();
    c.check(std::is_sorted(revs.begin(), revs.end()) && std::adjacent_find(revs.begin(), revs.end()) == revs.end(),
            "events must come in strictly increasing revision order (no duplicate)");
    std::vector<int64_t> all = expect;
    all.insert(all.end(), burst.begin(), burst.end());
    if (revs != all) {
        const auto delivered = std::to_string(revs.size() - expect.size());
        c.without("history", "the watch coalesced the burst (" + delivered + " of 31 writes delivered): allowed for a store "
                           "without history, the state still converged");
    }
    std::lock_guard lk(w.mu);
    c.check(w.calls.overlapping == 0, "the sink was called from two threads at once");
    c.check(w.resets.empty(), "the watch reset without cause");
}

void watch_replay(Context& c) {
    Store store(c, "replay/");
    const KvDriver& kv = store.kv;
    const std::string& p = store.p;
    auto first = kv.put(p + "k", "1");
    auto second = kv.put(p + "k", "2");
    auto third = kv.put(p + "j", "3");
    c.require(first.status == HERD_OK && second.status == HERD_OK && third.status == HERD_OK, "three puts");
    // From the first write's revision: what came after it, which the watcher missed.
    KvWatcher w(kv, p, first.revision);
    if (w.status == HERD_ERR_COMPACTED) {
        c.check(!w.message.empty(), "COMPACTED must say which revision is retained");
        c.note("watch from an older revision: COMPACTED (" + w.message + ")");
        return;
    }
    c.require(w.status == HERD_OK, "watch from an earlier revision: " + std::string(status_text(w.status)) + " " + w.message);
    auto reset_or_replayed = [&] {
        std::lock_guard lk(w.mu);
        return !w.resets.empty() || w.events.size() >= 2;
    };
    c.require(eventually(reset_or_replayed, c.options().wait), "a watch from an earlier revision must replay what followed it or reset, "
                                             "it did neither within --wait");
    std::lock_guard lk(w.mu);
    if (!w.resets.empty()) {
        c.check(w.resets.front() >= first.revision, "a reset must name a revision at or after the one asked for");
        c.without("history", "the watch reset instead of replaying (no history): allowed, the subscriber relists");
        return;
    }
    c.check(w.events.size() >= 2 && std::get<2>(w.events[0]) == second.revision && std::get<2>(w.events[1]) == third.revision,
            "the replay must start right after the revision asked for: " + std::to_string(second.revision) + ", " +
                std::to_string(third.revision));
}

void watch_from_first(Context& c) {
    // from_revision 0: "every change with a revision > 0", i.e. all the store retains (`herd kv
    // watch --from first`). A store without history answers with the present state as puts.
    Store store(c, "first/");
    const KvDriver& kv = store.kv;
    const std::string& p = store.p;
    kv.put(p + "a", "1");
    kv.put(p + "b", "2");
    kv.put(p + "a", "3");
    kv.del(p + "b");
    const auto state = state_of(kv, p);
    KvWatcher w(kv, p, 0);
    c.require(w.status == HERD_OK, "watch from revision 0: " + std::string(status_text(w.status)) + " " + w.message);
    auto done = [&] {
        std::lock_guard lk(w.mu);
        return !w.resets.empty();
    };
    c.require(eventually([&] { return done() || replay(w, {}) == state; }, c.options().wait),
              "a watch from revision 0 must replay the retained changes (or reset) within --wait");
    if (done()) {
        c.without("history", "the watch from revision 0 reset (the history is compacted)");
        return;
    }
    const auto revs = w.revisions();
    c.check(std::is_sorted(revs.begin(), revs.end()), "the replayed changes must be in revision order");
    if (revs.size() != 4) c.without("history", "from revision 0 the watch gave the present state (" + std::to_string(revs.size()) +
                                                   " events), not the 4 changes");
}

void unwatch(Context& c) {
    require_kv(c);
    const size_t threads_before = thread_count();
    {
        Store store(c, "unwatch/");
        const KvDriver& kv = store.kv;
        const std::string& p = store.p;
        auto listed = kv.list_entries(p);
        auto w1 = std::make_unique<KvWatcher>(kv, p, listed.revision);
        KvWatcher w2(kv, p, listed.revision);  // two watches of one prefix are independent
        c.require(w1->status == HERD_OK && w2.status == HERD_OK, "two watches of one prefix");
        kv.put(p + "a", "1");
        c.require(eventually([&] { return w1->count() == 1 && w2.count() == 1; }, c.options().wait), "both watches must see the write");
        // Writes racing with unwatch: once unwatch returns, the sink must never be called again.
        std::atomic<bool> stop{false};
        std::thread writer([&] {
            for (int i = 0; !stop; ++i) kv.put(p + "r" + std::to_string(i % 5), "v");
        });
        eventually([&] { return w1->count() > 3; }, std::chrono::seconds(5));
        w1->stop();
        const size_t at_stop = w1->count();
        eventually([&] { return w2.count() > at_stop + 20; }, std::chrono::seconds(5));
        stop = true;
        writer.join();
        const auto last = kv.put(p + "last", "v");
        c.check(eventually([&] {
                    std::lock_guard lk(w2.mu);
                    return !w2.events.empty() && std::get<2>(w2.events.back()) == last.revision;
                }, c.options().wait),
                "the other watch must keep going after one was unwatched");
        std::lock_guard lk(w1->mu);
        c.check(w1->calls.after_end == 0 && w1->events.size() == at_stop, "the sink was called after unwatch returned");
        c.check(w1->calls.overlapping == 0, "the sink was called from two threads at once");
    }
    c.check(eventually([&] { return thread_count() <= threads_before; }, std::chrono::seconds(5)),
            "threads left behind after unwatch and destroy: " + std::to_string(thread_count()) + " (" +
                std::to_string(threads_before) + " before)");
}

void large_values(Context& c) {
    Store store(c, "large/");
    const KvDriver& kv = store.kv;
    const std::string& p = store.p;
    for (size_t size : {size_t{1} << 20, size_t{16} << 20}) {
        const std::string value(size, 'v'), key = p + std::to_string(size);
        auto r = kv.put(key, value);
        const std::string what = std::to_string(size >> 20) + " MiB value";
        if (r.status == HERD_OK) {
            auto back = kv.get(key);
            c.check(back && back->first == value, "a " + what + " must read back whole");
        } else {
            c.check(r.status == HERD_ERR_TOO_LARGE, "a " + what + " over the backend's limit must be TOO_LARGE, got " + got(r));
            c.check(r.message.find(sdk::printable_key(key)) != std::string::npos, "TOO_LARGE must name the key, got: " + r.message);
            c.check(!kv.get(key), "a refused " + what + " must write nothing");
            c.note(what + " refused: " + r.message);
        }
    }
}

void binary(Context& c) {
    Store store(c, "bin/");
    const KvDriver& kv = store.kv;
    const std::string& p = store.p;
    std::string all_bytes;
    for (int b = 0; b < 256; ++b) all_bytes += static_cast<char>(b);
    auto v = kv.put(p + "value", all_bytes);
    c.check(v.status == HERD_OK && kv.get(p + "value") && kv.get(p + "value")->first == all_bytes,
            "a value of all 256 byte values must read back unchanged: " + got(v));
    const std::string key = p + std::string("k\0\xff\n", 4);
    auto r = kv.put(key, "v");
    if (r.status == HERD_OK) {
        c.check(kv.get(key) && kv.get(key)->first == "v", "a binary key that was accepted must read back");
        c.check(kv.list_entries(p).keys.size() == 2, "a binary key must list like any other");
        return;
    }
    c.check(r.status == HERD_ERR_INVALID_ARGUMENT, "a binary key the backend cannot store must be INVALID_ARGUMENT, got " + got(r));
    c.check(r.message.find(sdk::printable_key(key)) != std::string::npos,
            "the refusal must name the key as printable_key shows it (" + sdk::printable_key(key) + "), got: " + r.message);
    c.check(kv.list_entries(p).keys == std::vector<std::string>{p + "value"}, "a refused key must write nothing");
    c.without("binary-keys", "binary keys refused: " + r.message);
}

void list_many(Context& c) {
    Store store(c, "many/");
    const KvDriver& kv = store.kv;
    const std::string& p = store.p;
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = t; i < 10000; i += 8)
                if (kv.put(p + std::to_string(100000 + i), "v").status != HERD_OK) ++failed;
        });
    for (auto& t : threads) t.join();
    c.require(failed == 0, std::to_string(failed.load()) + " of 10 000 puts from 8 threads failed");
    auto l = kv.list_entries(p);
    c.require(l.status == HERD_OK, "listing 10 000 keys: " + l.message);
    c.check(l.keys.size() == 10000, "a listing must give all 10 000 keys, gave " + std::to_string(l.keys.size()));
    c.check(std::is_sorted(l.keys.begin(), l.keys.end()), "a listing must be in key order");
    c.check(!l.keys.empty() && l.keys.front() == p + "100000" && l.keys.back() == p + "109999", "the first and last keys");
}

void leases(Context& c) {
    require_kv(c);
    const auto& ops = *c.factory().kv;
    if (!ops.lease_grant) c.lacks("leases", "the backend has no leases (lease_grant is NULL)");
    c.require(ops.lease_keepalive && ops.lease_revoke, "lease_grant is set, so lease_keepalive and lease_revoke must be");
    Store store(c, "eph/");
    const KvDriver& kv = store.kv;
    const std::string& p = store.p;
    plugins::ErrorCapture err;
    int64_t lease = 0;
    const auto granted = ops.lease_grant(kv.handle(), 30000, &lease, err.get());
    if (granted == HERD_ERR_UNSUPPORTED) c.lacks("leases", "lease_grant: UNSUPPORTED: " + err.message);
    c.require(granted == HERD_OK && lease != 0, "lease_grant(30 s): " + std::string(status_text(granted)) + " " + err.message);
    auto a = kv.put(p + "a", "1", HERD_KV_EXPECT_ABSENT, lease);
    c.check(a.status == HERD_OK, "put on a lease: " + got(a));
    c.check(kv.put(p + "a", "2", HERD_KV_EXPECT_ABSENT, lease).status == HERD_ERR_CONFLICT, "CAS applies to leased keys too");
    c.check(kv.put(p + "plain", "1").status == HERD_OK, "a key without a lease");
    plugins::ErrorCapture e2;
    c.check(ops.lease_keepalive(kv.handle(), lease, e2.get()) == HERD_OK, "keepalive of a live lease: " + e2.message);
    plugins::ErrorCapture e3;
    c.require(ops.lease_revoke(kv.handle(), lease, e3.get()) == HERD_OK, "revoke: " + e3.message);
    c.check(eventually([&] { return !kv.get(p + "a"); }, std::chrono::seconds(5)), "a revoked lease's key must vanish");
    c.check(kv.get(p + "plain").has_value(), "revoking a lease must leave other keys alone");
    plugins::ErrorCapture e4;
    c.check(ops.lease_keepalive(kv.handle(), lease, e4.get()) == HERD_ERR_NOT_FOUND, "keepalive of a revoked lease must be NOT_FOUND");
    auto b = kv.put(p + "b", "1", HERD_KV_EXPECT_ANY, lease);
    c.check(b.status == HERD_ERR_NOT_FOUND, "put on a revoked lease must be NOT_FOUND, got " + got(b));
    c.check(!kv.get(p + "b"), "a put on a revoked lease must write nothing");
}

}  // namespace

std::vector<Case> kv_cases() {
    return {
        {"kv.basic", "get, put, list, delete; revisions strictly increase; NOT_FOUND names the key", basic},
        {"kv.cas", "compare-and-swap: create-if-absent, match, stale, absent; CONFLICT says what it found", cas},
        {"kv.cas_threads", "8 threads doing CAS increments on one key lose no update", cas_threads},
        {"kv.watch_order", "a watch from a listing's revision: every change, in order, no gap, no duplicate", watch_order},
        {"kv.watch_replay", "a watch from an earlier revision replays what followed it (or resets)", watch_replay},
        {"kv.watch_from_first", "a watch from revision 0 replays everything retained, in order (or resets)", watch_from_first},
        {"kv.unwatch", "after unwatch returns the sink is never called again; no thread is left", unwatch},
        {"kv.large_values", "1 MiB and 16 MiB values: whole, or TOO_LARGE naming the key with nothing written", large_values},
        {"kv.binary", "values of any byte; binary keys stored or refused by name with nothing written", binary},
        {"kv.list_many", "10 000 keys written from 8 threads list complete and in key order", list_many},
        {"kv.leases", "leased keys go with their lease; a revoked lease is NOT_FOUND", leases},
    };
}

}  // namespace herd::conformance

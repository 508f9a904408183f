// KV cases that need the server to go away: they run when the user says how to stop and start it
// (--stop-command, --start-command), as herd's own tests do for etcd. What they hold a plugin to:
// a store that is down gives a clear error in time (never a hang, never "not found"), a watch
// resumes or says reset, and CAS traffic across a restart loses no acknowledged update.
#include "conformance/kv_driver.hpp"
#include "conformance/suite.hpp"

#include <herd/sdk/kv_support.hpp>

#include <atomic>
#include <map>
#include <set>
#include <thread>

namespace herd::conformance {

namespace {

void require_server_control(Context& c) {
    if (!c.factory().kv) c.skip("not a kv factory");
    if (!c.controls_server()) c.lacks("server-control", "give --stop-command and --start-command to run the server-failure cases");
}

// Runs `op`, returning its result and how long it took.
template <class Op>
auto timed(Op&& op) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = op();
    return std::make_pair(r, std::chrono::steady_clock::now() - t0);
}

std::string ms(std::chrono::steady_clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

void server_down(Context& c) {
    require_server_control(c);
    auto inst = c.create();
    KvDriver kv(*inst);
    const std::string k = c.unique_prefix() + "down/k";
    c.require(kv.put(k, "v").status == HERD_OK, "a put before the server stops");
    c.stop_server();
    bool restarted = false;
    struct Restart {  // the server comes back however the case ends
        Context& c;
        bool& done;
        ~Restart() {
            if (!done) try {
                    c.start_server();
                } catch (const CaseEnded&) {
                }
        }
    } restart{c, restarted};
    const auto limit = c.options().wait;
    auto [put, put_took] = timed([&] { return kv.put(k, "w"); });
    c.check(put.status == HERD_ERR_UNAVAILABLE || put.status == HERD_ERR_TIMEOUT,
            "a put with the server down must be UNAVAILABLE or TIMEOUT, got " + std::string(status_text(put.status)));
    c.check(put.message.find(sdk::printable_key(k)) != std::string::npos, "the error must name the key, got: " + put.message);
    c.check(put_took < limit, "the put took " + ms(put_took) + ", over --wait: a call must fail within its timeout");
    auto [got, get_took] = timed([&] { return kv.get_entry(k); });
    c.check(got.status != HERD_OK && got.status != HERD_ERR_NOT_FOUND,
            "a get with the server down must fail, not look like an absent key, got " + std::string(status_text(got.status)));
    c.check(get_took < limit, "the get took " + ms(get_took));
    auto [listed, list_took] = timed([&] { return kv.list_entries(c.unique_prefix()); });
    c.check(listed.status != HERD_OK, "a listing with the server down must fail: an empty OK would empty whoever reads it");
    c.check(list_took < limit, "the list took " + ms(list_took));

    c.start_server();
    restarted = true;
    c.require(eventually([&] { return kv.put(k, "back").status == HERD_OK; }, limit),
              "the same instance must work again once the server is back (within --wait)");
    auto back = kv.get(k);
    c.check(back && back->first == "back", "the value written after the restart must read back");
    kv.del(k);
}

void restart_watch(Context& c) {
    require_server_control(c);
    auto inst = c.create();
    KvDriver kv(*inst);
    const std::string p = c.unique_prefix() + "rw/";
    kv.put(p + "0", "v");
    auto listed = kv.list_entries(p);
    std::map<std::string, int64_t> start;
    for (size_t i = 0; i < listed.keys.size(); ++i) start[listed.keys[i]] = listed.revisions[i];
    KvWatcher w(kv, p, listed.revision);
    c.require(w.status == HERD_OK, "watch: " + w.message);
    kv.put(p + "1", "v");
    c.require(eventually([&] { return w.count() == 1; }, c.options().wait), "the first change was not delivered");
    c.stop_server();
    c.start_server();
    for (int i = 2; i < 6; ++i)
        c.require(eventually([&] { return kv.put(p + std::to_string(i), "v").status == HERD_OK; }, c.options().wait),
                  "a put after the restart did not succeed within --wait");
    kv.del(p + "0");
    std::map<std::string, int64_t> now;
    auto after = kv.list_entries(p);
    for (size_t i = 0; i < after.keys.size(); ++i) now[after.keys[i]] = after.revisions[i];
    auto replayed = [&] {
        std::lock_guard lk(w.mu);
        auto state = start;
        for (auto& [type, key, rev] : w.events) {
            if (type == HERD_KV_EVENT_PUT) state[key] = rev;
            else state.erase(key);
        }
        return state == now;
    };
    auto reset_said = [&] {
        std::lock_guard lk(w.mu);
        return !w.resets.empty();
    };
    c.require(eventually([&] { return reset_said() || replayed(); }, c.options().wait * 3),
              "after the restart the watch must resume (and deliver every change) or say reset, it did neither");
    if (reset_said()) {
        c.note("the watch reset across the restart (the subscriber relists)");
    } else {
        const auto revs = w.revisions();
        c.check(std::is_sorted(revs.begin(), revs.end()) && std::adjacent_find(revs.begin(), revs.end()) == revs.end(),
                "after resuming: in revision order, no duplicate");
    }
    for (const auto& key : after.keys) kv.del(key);
}

void restart_cas(Context& c) {
    require_server_control(c);
    auto inst = c.create();
    KvDriver kv(*inst);
    const std::string k = c.unique_prefix() + "rc/counter";
    c.require(kv.put(k, "0").status == HERD_OK, "cannot write the counter");
    std::atomic<int> acknowledged{0}, unknown{0}, unclear{0};
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::string first_unclear;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            while (!stop) {
                auto cur = kv.get(k);
                if (!cur) continue;  // the server is away
                auto r = kv.put(k, std::to_string(std::stoi(cur->first) + 1), cur->second);
                if (r.status == HERD_OK) {
                    ++acknowledged;
                } else if (r.status == HERD_ERR_UNAVAILABLE || r.status == HERD_ERR_TIMEOUT) {
                    ++unknown;  // may or may not have landed
                } else if (r.status != HERD_ERR_CONFLICT) {
                    std::lock_guard lk(mu);
                    if (unclear++ == 0) first_unclear = std::string(status_text(r.status)) + " " + r.message;
                }
            }
        });
    struct Join {
        std::atomic<bool>& stop;
        std::vector<std::thread>& threads;
        ~Join() {
            stop = true;
            for (auto& t : threads) t.join();
        }
    } join{stop, threads};
    c.require(eventually([&] { return acknowledged >= 20; }, c.options().wait), "20 CAS increments before the restart");
    c.stop_server();
    c.start_server();
    const int before = acknowledged;
    c.require(eventually([&] { return acknowledged >= before + 20; }, c.options().wait * 3),
              "CAS increments did not resume after the restart");
    stop = true;
    for (auto& t : threads) t.join();
    threads.clear();
    auto final_value = kv.get(k);
    c.require(final_value.has_value(), "the counter must survive the restart");
    const int count = std::stoi(final_value->first);
    c.check(unclear == 0, "every failure must be CONFLICT, UNAVAILABLE or TIMEOUT, got " + first_unclear);
    c.check(count >= acknowledged, "an acknowledged update was lost: " + std::to_string(count) + " < " + std::to_string(acknowledged.load()));
    c.check(count <= acknowledged + unknown, "an update was applied twice: " + std::to_string(count) + " > " +
                                                 std::to_string(acknowledged + unknown));
    kv.del(k);
}

}  // namespace

std::vector<Case> kv_server_cases() {
    return {
        {"kv.server_down", "a stopped server: clear errors in time (never a hang, never 'not found'); back when it is back", server_down},
        {"kv.restart_watch", "across a server restart a watch resumes with every change, or says reset", restart_watch},
        {"kv.restart_cas", "CAS traffic across a server restart: no acknowledged update lost, none applied twice", restart_cas},
    };
}

}  // namespace herd::conformance

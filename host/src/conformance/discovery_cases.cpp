// Discovery cases: the start/stop contract of herd_discovery_ops and the shape of the groups, as
// the discovery manager relies on them. The --config must point at something that has targets
// (a file, a test server): the kit waits up to --wait for the first groups.
#include "conformance/suite.hpp"

#include "conformance/sink_calls.hpp"
#include "discovery/target_group.hpp"

#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace herd::conformance {

namespace {

// Records what a provider calls, and how: never two calls at once, never one after stop().
struct Recorder {
    std::mutex mu;
    std::vector<std::string> updates, errors;
    int healthy = 0;
    SinkCalls sink_calls;  // never two at once, none after stop
    herd_discovery_sink sink{};

    Recorder() {
        sink.header = {sizeof(herd_discovery_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR};
        sink.ctx = this;
        sink.update = [](void* ctx, herd_str json) {
            auto* r = static_cast<Recorder*>(ctx);
            const SinkCalls::Call call(r->sink_calls);
            std::lock_guard lk(r->mu);
            r->updates.emplace_back(json.data, json.size);
        };
        sink.error = [](void* ctx, herd_str message) {
            auto* r = static_cast<Recorder*>(ctx);
            const SinkCalls::Call call(r->sink_calls);
            std::lock_guard lk(r->mu);
            r->errors.emplace_back(message.data, message.size);
        };
        sink.healthy = [](void* ctx) {
            auto* r = static_cast<Recorder*>(ctx);
            const SinkCalls::Call call(r->sink_calls);
            std::lock_guard lk(r->mu);
            ++r->healthy;
        };
    }
    size_t update_count() {
        std::lock_guard lk(mu);
        return updates.size();
    }
    size_t calls() {
        std::lock_guard lk(mu);
        return updates.size() + errors.size() + static_cast<size_t>(healthy);
    }
};

// A started instance that is stopped (and timed) when it goes.
struct Started {
    Context& c;
    std::unique_ptr<plugins::Instance> inst;
    Recorder& rec;
    bool running = false;
    std::chrono::milliseconds start_took{0}, stop_took{0};

    Started(Context& ctx, Recorder& r, const std::string& name = "conformance") : c(ctx), inst(ctx.create(name)), rec(r) {
        const auto* ops = c.factory().discovery;
        c.require(ops && ops->start && ops->stop, "the factory's discovery table (start, stop) is not set");
        plugins::ErrorCapture err;
        const auto t0 = std::chrono::steady_clock::now();
        const auto s = ops->start(inst->handle(), &rec.sink, err.get());
        start_took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
        c.require(s == HERD_OK, "start(): " + std::string(status_text(s)) + " " + err.message);
        running = true;
    }
    void stop() {
        if (!running) return;
        const auto t0 = std::chrono::steady_clock::now();
        c.factory().discovery->stop(inst->handle());
        stop_took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
        rec.sink_calls.end();
        running = false;
    }
    ~Started() { stop(); }
};

std::string last_error(Recorder& rec) {
    std::lock_guard lk(rec.mu);
    return rec.errors.empty() ? "none" : rec.errors.back();
}

void first_groups(Context& c) {
    Recorder rec;
    Started s(c, rec);
    c.check(s.start_took < std::chrono::seconds(2),
            "start() took " + std::to_string(s.start_took.count()) + " ms: it must return quickly and work on its own threads");
    c.require(eventually([&] { return rec.update_count() > 0; }, c.options().wait),
              "no update within --wait " + std::to_string(c.options().wait.count()) + " ms; the provider's last error: " +
                  last_error(rec));
    std::vector<std::string> updates;
    {
        std::lock_guard lk(rec.mu);
        updates = rec.updates;
    }
    size_t groups = 0, targets = 0;
    for (size_t i = 0; i < updates.size(); ++i) {
        std::vector<discovery::TargetGroup> parsed;
        try {
            parsed = discovery::parse_groups(updates[i]);
        } catch (const std::exception& e) {
            c.check(false, "update " + std::to_string(i + 1) + " is not valid target-group JSON: " + e.what());
            continue;
        }
        std::set<std::string> sources;
        for (const auto& g : parsed) {
            c.check(!g.source.empty(), "update " + std::to_string(i + 1) + ": a group without a source cannot be replaced later");
            c.check(sources.insert(g.source).second,
                    "update " + std::to_string(i + 1) + ": source " + quote_key(g.source) + " appears twice in one update");
            for (const auto& t : g.targets) c.check(!t.at("__address__").empty(), "a target with an empty __address__");
            targets += g.targets.size();
        }
        groups += parsed.size();
    }
    c.check(targets > 0, "the updates carried no target at all: the --config should discover something");
    c.note(std::to_string(updates.size()) + " update(s), " + std::to_string(groups) + " group(s), " +
           std::to_string(targets) + " target(s); start took " + std::to_string(s.start_took.count()) + " ms");
}

void stop_stops(Context& c) {
    const size_t threads_before = thread_count();
    {
        Recorder rec;
        Started s(c, rec);
        c.require(eventually([&] { return rec.update_count() > 0; }, c.options().wait),
                  "no update within --wait; the provider's last error: " + last_error(rec));
        s.stop();
        c.check(s.stop_took < std::chrono::seconds(10),
                "stop() took " + std::to_string(s.stop_took.count()) + " ms");
        const size_t at_stop = rec.calls();
        // What must not happen cannot be awaited: watch for a second, longer than a refresh of any
        // provider configured for a test.
        eventually([&] { return rec.calls() != at_stop; }, std::chrono::seconds(1));
        std::lock_guard lk(rec.mu);
        c.check(rec.sink_calls.after_end == 0, "the sink was called " + std::to_string(rec.sink_calls.after_end) + " time(s) after stop() returned");
        c.check(rec.sink_calls.overlapping == 0, "the sink was called from two threads at once");
    }
    c.check(eventually([&] { return thread_count() <= threads_before; }, std::chrono::seconds(5)),
            "threads left behind after stop and destroy: " + std::to_string(thread_count()) + " (" +
                std::to_string(threads_before) + " before)");
}

void stop_at_once(Context& c) {
    // herd stops a provider whenever a reload drops it, maybe before its first refresh.
    const size_t threads_before = thread_count();
    for (int round = 0; round < 3; ++round) {
        Recorder rec;
        Started s(c, rec, "conformance-" + std::to_string(round));
        s.stop();
        c.check(s.stop_took < std::chrono::seconds(10), "stop() right after start() took " +
                                                            std::to_string(s.stop_took.count()) + " ms");
        std::lock_guard lk(rec.mu);
        c.check(rec.sink_calls.after_end == 0, "the sink was called after stop() returned");
    }
    c.check(eventually([&] { return thread_count() <= threads_before; }, std::chrono::seconds(5)),
            "threads left behind after 3 start/stop rounds: " + std::to_string(thread_count() - threads_before));
}

void two_instances(Context& c) {
    // Two instances of one factory (two [[discovery]] tables) must not share a sink or a state.
    Recorder a, b;
    Started sa(c, a, "conformance-a"), sb(c, b, "conformance-b");
    c.require(eventually([&] { return a.update_count() > 0 && b.update_count() > 0; }, c.options().wait),
              "both instances must deliver their groups");
    auto state = [](Recorder& r) {
        std::map<std::string, discovery::TargetGroup> by_source;
        std::lock_guard lk(r.mu);
        for (const auto& u : r.updates) try {
                for (auto& g : discovery::parse_groups(u)) {
                    if (g.targets.empty()) by_source.erase(g.source);
                    else by_source[g.source] = g;
                }
            } catch (const std::exception&) {
            }
        return by_source;
    };
    c.check(eventually([&] { return state(a) == state(b); }, c.options().wait),
            "two instances of one configuration must come to the same groups");
    sa.stop();
    std::lock_guard lk(a.mu);
    c.check(a.sink_calls.after_end == 0, "the stopped instance's sink was called after stop()");
}

}  // namespace

std::vector<Case> discovery_cases() {
    return {
        {"discovery.first_groups", "start returns quickly; the groups are valid target-group JSON with sources", first_groups},
        {"discovery.stop", "after stop() returns the sink is never called again; no thread is left", stop_stops},
        {"discovery.stop_at_once", "stop() right after start() (a reload) returns promptly, 3 rounds", stop_at_once},
        {"discovery.two_instances", "two instances of one factory work side by side", two_instances},
    };
}

}  // namespace herd::conformance

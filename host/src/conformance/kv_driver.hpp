// A KV instance's table called as directly as the ABI allows: every status and message kept, no
// exception, no retry (the host's KvClient adds those; a conformance case must see the raw answer).
#pragma once

#include "conformance/sink_calls.hpp"
#include "plugins/host_services.hpp"
#include "plugins/instance.hpp"

#include <herd/plugin_api.h>
#include <herd/sdk/error.hpp>

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace herd::conformance {

struct KvResult {
    herd_status status = HERD_OK;
    std::string message;
    int64_t revision = 0;
};

struct KvDriver {
    const plugins::Instance* inst = nullptr;
    const herd_kv_ops* ops = nullptr;

    KvDriver() = default;
    explicit KvDriver(const plugins::Instance& i) : inst(&i), ops(i.factory().kv) {}
    void* handle() const { return inst->handle(); }

    KvResult put(std::string_view k, std::string_view v, int64_t expected = HERD_KV_EXPECT_ANY, int64_t lease = 0) const {
        plugins::ErrorCapture e;
        KvResult r;
        r.status = ops->put(handle(), sdk::to_str(k), sdk::to_str(v), expected, lease, &r.revision, e.get());
        r.message = e.message;
        return r;
    }
    KvResult del(std::string_view k, int64_t expected = HERD_KV_EXPECT_ANY) const {
        plugins::ErrorCapture e;
        KvResult r;
        r.status = ops->del(handle(), sdk::to_str(k), expected, &r.revision, e.get());
        r.message = e.message;
        return r;
    }
    struct Got {
        herd_status status = HERD_OK;
        std::string message, value;
        int64_t revision = 0;  // mod_revision
        int calls = 0;         // how often the sink was called (must be 1 on OK)
    };
    Got get_entry(std::string_view k) const {
        Got g;
        herd_kv_entry_sink sink{{sizeof(herd_kv_entry_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR}, &g,
                                [](void* c, const herd_kv_entry* e) {
                                    auto* out = static_cast<Got*>(c);
                                    out->value.assign(e->value.data, e->value.size);
                                    out->revision = e->mod_revision;
                                    ++out->calls;
                                }};
        plugins::ErrorCapture err;
        g.status = ops->get(handle(), sdk::to_str(k), &sink, err.get());
        g.message = err.message;
        return g;
    }
    // (value, mod_revision) or nullopt on any failure.
    std::optional<std::pair<std::string, int64_t>> get(std::string_view k) const {
        auto g = get_entry(k);
        if (g.status != HERD_OK) return std::nullopt;
        return std::make_pair(g.value, g.revision);
    }
    struct Listed {
        herd_status status = HERD_OK;
        std::string message;
        std::vector<std::string> keys;
        std::vector<int64_t> revisions;  // each key's mod_revision
        int64_t revision = 0;            // the listing's
    };
    Listed list_entries(std::string_view prefix) const {
        Listed l;
        herd_kv_entry_sink sink{{sizeof(herd_kv_entry_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR}, &l,
                                [](void* c, const herd_kv_entry* e) {
                                    auto* out = static_cast<Listed*>(c);
                                    out->keys.emplace_back(e->key.data, e->key.size);
                                    out->revisions.push_back(e->mod_revision);
                                }};
        plugins::ErrorCapture err;
        l.status = ops->list(handle(), sdk::to_str(prefix), &sink, &l.revision, err.get());
        l.message = err.message;
        return l;
    }
};

// Collects what a watch delivers, and how: calls never overlap, never come after unwatch.
struct KvWatcher {
    using Event = std::tuple<herd_kv_event_type, std::string, int64_t>;  // type, key, revision
    std::mutex mu;
    std::vector<Event> events;
    std::vector<int64_t> resets;
    std::vector<std::string> errors;
    SinkCalls calls;  // never two at once, none after unwatch
    herd_kv_watch_sink sink{};
    herd_kv_watch* handle = nullptr;
    const KvDriver& kv;
    herd_status status = HERD_OK;
    std::string message;

    KvWatcher(const KvDriver& k, std::string_view prefix, int64_t from) : kv(k) {
        sink.header = {sizeof(herd_kv_watch_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR};
        sink.ctx = this;
        sink.events = [](void* c, const herd_kv_event* const* ev, size_t n) {
            auto* w = static_cast<KvWatcher*>(c);
            const SinkCalls::Call call(w->calls);
            std::lock_guard lk(w->mu);
            for (size_t i = 0; i < n; ++i)
                w->events.emplace_back(ev[i]->type, std::string(ev[i]->entry->key.data, ev[i]->entry->key.size),
                                       ev[i]->entry->mod_revision);
        };
        sink.reset = [](void* c, int64_t rev) {
            auto* w = static_cast<KvWatcher*>(c);
            const SinkCalls::Call call(w->calls);
            std::lock_guard lk(w->mu);
            w->resets.push_back(rev);
        };
        sink.error = [](void* c, herd_status, herd_str m) {
            auto* w = static_cast<KvWatcher*>(c);
            const SinkCalls::Call call(w->calls);
            std::lock_guard lk(w->mu);
            w->errors.emplace_back(m.data, m.size);
        };
        plugins::ErrorCapture err;
        status = kv.ops->watch(kv.handle(), sdk::to_str(prefix), from, &sink, &handle, err.get());
        message = err.message;
    }
    ~KvWatcher() { stop(); }
    void stop() {
        if (handle) kv.ops->unwatch(kv.handle(), handle);
        handle = nullptr;
        calls.end();
    }
    size_t count() {
        std::lock_guard lk(mu);
        return events.size();
    }
    std::vector<int64_t> revisions() {
        std::lock_guard lk(mu);
        std::vector<int64_t> out;
        for (auto& [type, key, rev] : events) out.push_back(rev);
        return out;
    }

};

}  // namespace herd::conformance

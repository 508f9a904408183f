// A KV plugin instance driven through the ABI, as herd drives it: the shared fixture of the KV
// conformance tests (kv_sqlite, kv_etcd, ...).
#pragma once

#include "metrics/registry.hpp"
#include "plugins/host_services.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace herd::test {

namespace fs = std::filesystem;

// A kv instance made through the ABI, with small helpers over its table.
struct Kv {
    metrics::Registry reg;
    std::unique_ptr<plugins::Instance> inst;
    const herd_kv_ops* ops = nullptr;

    Kv(const fs::path& dir, const std::string& config = "{}", const std::string& plugin = "kv_sqlite") {
        plugins::PluginRegistry plugins(reg, false);
        auto r = plugins.load(test::plugin_dir() / (plugin + ".so"));
        REQUIRE(r.plugin);
        plugins::CreateError err;
        inst = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "kv", config, dir, dir, &err);
        INFO(err.message);
        REQUIRE(inst);
        ops = inst->factory().kv;
    }
    struct Result {
        herd_status status = HERD_OK;
        std::string message;
        int64_t revision = 0;
    };
    Result put(std::string_view k, std::string_view v, int64_t expected = HERD_KV_EXPECT_ANY, int64_t lease = 0) {
        plugins::ErrorCapture e;
        Result r;
        r.status = ops->put(inst->handle(), {k.data(), k.size()}, {v.data(), v.size()}, expected, lease, &r.revision, e.get());
        r.message = e.message;
        return r;
    }
    Result del(std::string_view k, int64_t expected = HERD_KV_EXPECT_ANY) {
        plugins::ErrorCapture e;
        Result r;
        r.status = ops->del(inst->handle(), {k.data(), k.size()}, expected, &r.revision, e.get());
        r.message = e.message;
        return r;
    }
    std::optional<std::pair<std::string, int64_t>> get(std::string_view k) {
        std::optional<std::pair<std::string, int64_t>> out;
        herd_kv_entry_sink sink{{sizeof(herd_kv_entry_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR}, &out,
                                [](void* c, const herd_kv_entry* e) {
                                    *static_cast<std::optional<std::pair<std::string, int64_t>>*>(c) =
                                        std::make_pair(std::string(e->value.data, e->value.size), e->mod_revision);
                                }};
        plugins::ErrorCapture err;
        return ops->get(inst->handle(), {k.data(), k.size()}, &sink, err.get()) == HERD_OK ? out : std::nullopt;
    }
    std::vector<std::string> list(std::string_view prefix, int64_t* rev = nullptr) {
        std::vector<std::string> keys;
        herd_kv_entry_sink sink{{sizeof(herd_kv_entry_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR}, &keys,
                                [](void* c, const herd_kv_entry* e) {
                                    static_cast<std::vector<std::string>*>(c)->emplace_back(e->key.data, e->key.size);
                                }};
        plugins::ErrorCapture err;
        int64_t r = 0;
        REQUIRE(ops->list(inst->handle(), {prefix.data(), prefix.size()}, &sink, &r, err.get()) == HERD_OK);
        if (rev) *rev = r;
        return keys;
    }
};

// Collects what a watch delivers.
struct Watcher {
    std::mutex mu;
    std::vector<std::tuple<herd_kv_event_type, std::string, int64_t>> events;  // type, key, revision
    std::vector<int64_t> resets;
    herd_kv_watch_sink sink{};
    herd_kv_watch* handle = nullptr;
    Kv& kv;

    Watcher(Kv& k, std::string_view prefix, int64_t from) : kv(k) {
        sink.header = {sizeof(herd_kv_watch_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR};
        sink.ctx = this;
        sink.events = [](void* c, const herd_kv_event* const* ev, size_t n) {
            auto* w = static_cast<Watcher*>(c);
            std::lock_guard lk(w->mu);
            for (size_t i = 0; i < n; ++i)
                w->events.emplace_back(ev[i]->type, std::string(ev[i]->entry->key.data, ev[i]->entry->key.size),
                                       ev[i]->entry->mod_revision);
        };
        sink.reset = [](void* c, int64_t rev) {
            auto* w = static_cast<Watcher*>(c);
            std::lock_guard lk(w->mu);
            w->resets.push_back(rev);
        };
        sink.error = [](void*, herd_status, herd_str) {};
        plugins::ErrorCapture err;
        REQUIRE(kv.ops->watch(kv.inst->handle(), {prefix.data(), prefix.size()}, from, &sink, &handle, err.get()) == HERD_OK);
    }
    ~Watcher() { kv.ops->unwatch(kv.inst->handle(), handle); }
    size_t count() {
        std::lock_guard lk(mu);
        return events.size();
    }
};

}  // namespace herd::test

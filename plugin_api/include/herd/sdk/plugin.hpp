// The C++ SDK's entry header: derive from a kind in kinds.hpp, then export with one macro:
//
//   HERD_PLUGIN("my_plugin", "1.0.0", "What it does",
//               herd::sdk::factory<MyDiscovery>("my_discovery", "One line for `herd plugins`"));
//
// The trampolines below are noexcept: an exception never leaves the plugin; it becomes a status
// and a message the host prints.
#pragma once

#include <herd/plugin_api.h>
#include <herd/sdk/error.hpp>
#include <herd/sdk/host.hpp>
#include <herd/sdk/kinds.hpp>

#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

namespace herd::sdk {

namespace detail {

constexpr herd_struct_header header_of(uint32_t size) noexcept {
    return herd_struct_header{size, HERD_ABI_MAJOR, HERD_ABI_MINOR};
}

template <class Base>
Base* self(void* instance) noexcept { return static_cast<Base*>(instance); }

struct DiscoveryOps {
    static herd_status start(void* i, const herd_discovery_sink* sink, herd_error_out* err) noexcept {
        try {
            self<Discovery>(i)->start(DiscoverySink(sink));
            return HERD_OK;
        } catch (...) {
            return report(err);
        }
    }
    static void stop(void* i) noexcept { self<Discovery>(i)->stop(); }
    static const herd_discovery_ops* table() noexcept {
        static const herd_discovery_ops ops{header_of(sizeof(herd_discovery_ops)), &start, &stop};
        return &ops;
    }
};

struct SelectorOps {
    static uint32_t needs(void* i) noexcept { return self<Selector>(i)->needs(); }
    static herd_status select(void* i, const herd_backend_stats* const* b, size_t n, uint8_t* eligible,
                              double* score, herd_error_out* err) noexcept {
        try {
            self<Selector>(i)->select({b, n}, {eligible, n}, {score, n});
            return HERD_OK;
        } catch (...) {
            return report(err);
        }
    }
    static size_t pick(void* i, const herd_request* r, const herd_backend* const* e, size_t n) noexcept {
        size_t k = self<Selector>(i)->pick(*r, {e, n});
        return k < n ? k : 0;  // a buggy plugin must not make the host index out of range
    }
    static const herd_selector_ops* table() noexcept {
        static const herd_selector_ops ops{header_of(sizeof(herd_selector_ops)), &needs, &select, &pick};
        return &ops;
    }
};

struct AffinityOps {
    static int64_t lookup(void* i, const herd_request* r, const herd_backend* const* e, size_t n) noexcept {
        int64_t k = self<Affinity>(i)->lookup(*r, {e, n});
        return (k >= 0 && static_cast<size_t>(k) < n) ? k : HERD_AFFINITY_NONE;
    }
    static void remember(void* i, const herd_request* r, const herd_backend* chosen,
                         const herd_header_sink* out) noexcept {
        self<Affinity>(i)->remember(*r, *chosen, HeaderSink(out));
    }
    static const herd_affinity_ops* table() noexcept {
        static const herd_affinity_ops ops{header_of(sizeof(herd_affinity_ops)), &lookup, &remember};
        return &ops;
    }
};

struct KvOps {
    template <class F>
    static herd_status guard(herd_error_out* err, F&& f) noexcept {
        try {
            f();
            return HERD_OK;
        } catch (...) {
            return report(err);
        }
    }
    static herd_status get(void* i, herd_str k, const herd_kv_entry_sink* s, herd_error_out* err) noexcept {
        return guard(err, [&] { self<Kv>(i)->get(to_view(k), KvEntrySink(s)); });
    }
    static herd_status list(void* i, herd_str p, const herd_kv_entry_sink* s, int64_t* rev,
                            herd_error_out* err) noexcept {
        return guard(err, [&] { *rev = self<Kv>(i)->list(to_view(p), KvEntrySink(s)); });
    }
    static herd_status put(void* i, herd_str k, herd_str v, int64_t expected, int64_t lease, int64_t* rev,
                           herd_error_out* err) noexcept {
        return guard(err, [&] { *rev = self<Kv>(i)->put(to_view(k), to_view(v), expected, lease); });
    }
    static herd_status del(void* i, herd_str k, int64_t expected, int64_t* rev, herd_error_out* err) noexcept {
        return guard(err, [&] { *rev = self<Kv>(i)->del(to_view(k), expected); });
    }
    static herd_status watch(void* i, herd_str p, int64_t from, const herd_kv_watch_sink* s,
                             herd_kv_watch** out, herd_error_out* err) noexcept {
        return guard(err, [&] { *out = self<Kv>(i)->watch(to_view(p), from, s); });
    }
    static void unwatch(void* i, herd_kv_watch* w) noexcept { self<Kv>(i)->unwatch(w); }
    static herd_status lease_grant(void* i, int64_t ttl, int64_t* out, herd_error_out* err) noexcept {
        return guard(err, [&] { *out = self<Kv>(i)->lease_grant(ttl); });
    }
    static herd_status lease_keepalive(void* i, int64_t l, herd_error_out* err) noexcept {
        return guard(err, [&] { self<Kv>(i)->lease_keepalive(l); });
    }
    static herd_status lease_revoke(void* i, int64_t l, herd_error_out* err) noexcept {
        return guard(err, [&] { self<Kv>(i)->lease_revoke(l); });
    }
    static const herd_kv_ops* table() noexcept {
        static const herd_kv_ops ops{header_of(sizeof(herd_kv_ops)), &get, &list, &put, &del, &watch,
                                     &unwatch, &lease_grant, &lease_keepalive, &lease_revoke};
        return &ops;
    }
};

struct SinkOps {
    static herd_status apply(void* i, const herd_sink_item* const* items, size_t n, const herd_sink_report* refused,
                             herd_error_out* err) noexcept {
        try {
            std::vector<SinkItemView> v;
            v.reserve(n);
            for (size_t k = 0; k < n; ++k)
                v.push_back({to_view(items[k]->name), to_view(items[k]->media_type), to_view(items[k]->body)});
            self<Sink>(i)->apply(v);
            return HERD_OK;
        } catch (const SinkRefused& e) {
            if (refused && refused->item_error)
                for (const auto& [name, why] : e.items()) refused->item_error(refused->ctx, to_str(name), to_str(why));
            if (err && err->set) err->set(err->ctx, to_str(e.what()));
            return e.status();
        } catch (...) {
            return report(err);
        }
    }
    static herd_status load(void* i, const herd_string_sink* out, herd_error_out* err) noexcept {
        try {
            auto l = self<Sink>(i)->load();
            if (!l) throw Error(HERD_ERR_UNSUPPORTED, "this sink does not report load");
            out->set(out->ctx, to_str(*l));
            return HERD_OK;
        } catch (...) {
            return report(err);
        }
    }
    static herd_status held(void* i, const herd_sink_item_sink* out, herd_error_out* err) noexcept {
        try {
            for (const auto& item : self<Sink>(i)->held()) {
                herd_sink_item x{header_of(sizeof(herd_sink_item)), to_str(item.name), to_str(item.media_type),
                                 to_str(item.body)};
                out->item(out->ctx, &x);
            }
            return HERD_OK;
        } catch (...) {
            return report(err);
        }
    }
    static const herd_sink_ops* table() noexcept {
        static const herd_sink_ops ops{header_of(sizeof(herd_sink_ops)), &apply, &load, &held};
        return &ops;
    }
};

}  // namespace detail

// Makes the herd_factory for T (derived from exactly one of Discovery, Kv, Selector, Affinity, Sink).
// One T per factory: the table is a static of this template.
template <class T>
const herd_factory* factory(const char* name, const char* description) {
    using Base = std::conditional_t<
        std::is_base_of_v<Discovery, T>, Discovery,
        std::conditional_t<
            std::is_base_of_v<Kv, T>, Kv,
            std::conditional_t<std::is_base_of_v<Selector, T>, Selector,
                               std::conditional_t<std::is_base_of_v<Sink, T>, Sink, Affinity>>>>;
    static_assert(std::is_base_of_v<Base, T>, "a factory type derives from Discovery, Kv, Selector, Affinity or Sink");
    static_assert(std::is_constructible_v<T, const CreateContext&>, "T needs a constructor T(const CreateContext&)");
    struct Make {
        static herd_status create(const herd_create_args* args, void** out, herd_error_out* err) noexcept {
            try {
                CreateContext ctx{Host(args->host), std::string(to_view(args->instance_name)),
                                  std::string(to_view(args->config_json)), std::string(to_view(args->data_dir)),
                                  std::string(to_view(args->config_dir))};
                Base* made = new T(ctx);
                *out = made;
                return HERD_OK;
            } catch (...) {
                return report(err);
            }
        }
        static void destroy(void* instance) noexcept { delete static_cast<Base*>(instance); }
    };
    static const herd_factory f = [&] {
        herd_factory x{};
        x.header = detail::header_of(sizeof(herd_factory));
        x.kind = Base::kind;
        x.name = name;
        x.description = description;
        x.create = &Make::create;
        x.destroy = &Make::destroy;
        if constexpr (std::is_same_v<Base, Discovery>) x.discovery = detail::DiscoveryOps::table();
        if constexpr (std::is_same_v<Base, Kv>) x.kv = detail::KvOps::table();
        if constexpr (std::is_same_v<Base, Selector>) x.selector = detail::SelectorOps::table();
        if constexpr (std::is_same_v<Base, Affinity>) x.affinity = detail::AffinityOps::table();
        if constexpr (std::is_same_v<Base, Sink>) x.sink = detail::SinkOps::table();
        return x;
    }();
    return &f;
}

// The host services given to the plugin's entry; valid while the library is loaded.
inline Host& plugin_host() noexcept {
    static Host h;
    return h;
}

}  // namespace herd::sdk

// Exports herd_plugin_entry: the plugin's only visible symbol.
#define HERD_PLUGIN(NAME, VERSION, DESCRIPTION, ...)                                                  \
    extern "C" HERD_PLUGIN_EXPORT const herd_plugin_descriptor* herd_plugin_entry(                    \
        const herd_host_api* host) {                                                                  \
        try {                                                                                         \
            ::herd::sdk::plugin_host() = ::herd::sdk::Host(host);                                     \
            static const herd_factory* const factories[] = {__VA_ARGS__};                             \
            static const herd_plugin_descriptor descriptor{                                           \
                {sizeof(herd_plugin_descriptor), HERD_ABI_MAJOR, HERD_ABI_MINOR}, NAME, VERSION,      \
                DESCRIPTION, factories, sizeof(factories) / sizeof(factories[0])};                    \
            return &descriptor;                                                                       \
        } catch (...) {                                                                               \
            return nullptr;                                                                           \
        }                                                                                             \
    }

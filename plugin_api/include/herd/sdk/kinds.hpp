// Base classes plugin authors derive from, one per kind. Constructors take a CreateContext,
// validate the configuration, and throw ConfigError on bad input; they must not start work.
#pragma once

#include <herd/plugin_api.h>
#include <herd/sdk/error.hpp>
#include <herd/sdk/host.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herd::sdk {

// --- discovery ----------------------------------------------------------------------------------

// Where a discovery instance sends target groups. Copyable; valid until stop() returns.
class DiscoverySink {
public:
    DiscoverySink() = default;
    explicit DiscoverySink(const herd_discovery_sink* s) : sink_(s) {}
    // groups_json: a JSON array of target groups (see herd_discovery_sink in plugin_api.h).
    void update(std::string_view groups_json) const noexcept { sink_->update(sink_->ctx, to_str(groups_json)); }
    void error(std::string_view message) const noexcept { sink_->error(sink_->ctx, to_str(message)); }
    void healthy() const noexcept { sink_->healthy(sink_->ctx); }

private:
    const herd_discovery_sink* sink_ = nullptr;
};

class Discovery {
public:
    static constexpr herd_kind kind = HERD_KIND_DISCOVERY;
    virtual ~Discovery() = default;
    virtual void start(DiscoverySink sink) = 0;  // returns quickly; work on your own threads
    virtual void stop() noexcept = 0;             // joins them
};

// --- kv -----------------------------------------------------------------------------------------

struct KvEntry {
    std::string key;
    std::string value;
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
    int64_t lease = 0;
};

// Hands entries to the host's sink without copying them twice.
class KvEntrySink {
public:
    explicit KvEntrySink(const herd_kv_entry_sink* s) : sink_(s) {}
    void operator()(std::string_view key, std::string_view value, int64_t create_revision,
                    int64_t mod_revision, int64_t lease = 0) const noexcept {
        herd_kv_entry e{{sizeof(herd_kv_entry), HERD_ABI_MAJOR, HERD_ABI_MINOR},
                        to_str(key), to_str(value), create_revision, mod_revision, lease};
        sink_->entry(sink_->ctx, &e);
    }

private:
    const herd_kv_entry_sink* sink_;
};

class Kv {
public:
    static constexpr herd_kind kind = HERD_KIND_KV;
    virtual ~Kv() = default;
    // Throw Error(HERD_ERR_NOT_FOUND, ...) when absent.
    virtual void get(std::string_view key, const KvEntrySink& out) = 0;
    virtual int64_t list(std::string_view prefix, const KvEntrySink& out) = 0;  // returns revision
    // Throw Error(HERD_ERR_CONFLICT, ...) when `expected` does not hold. Returns the new revision.
    virtual int64_t put(std::string_view key, std::string_view value, int64_t expected, int64_t lease) = 0;
    virtual int64_t del(std::string_view key, int64_t expected) = 0;
    virtual herd_kv_watch* watch(std::string_view prefix, int64_t from_revision,
                                 const herd_kv_watch_sink* sink) = 0;
    virtual void unwatch(herd_kv_watch* w) noexcept = 0;
    virtual int64_t lease_grant(int64_t /*ttl_ms*/) { throw Error(HERD_ERR_UNSUPPORTED, "no leases"); }
    virtual void lease_keepalive(int64_t /*lease*/) { throw Error(HERD_ERR_UNSUPPORTED, "no leases"); }
    virtual void lease_revoke(int64_t /*lease*/) { throw Error(HERD_ERR_UNSUPPORTED, "no leases"); }
};

// --- selector -----------------------------------------------------------------------------------

class Selector {
public:
    static constexpr herd_kind kind = HERD_KIND_SELECTOR;
    virtual ~Selector() = default;
    virtual uint32_t needs() const noexcept = 0;
    // Fill eligible[i] with 0/1 and score[i] with the comparison value (NaN if none).
    virtual void select(std::span<const herd_backend_stats* const> backends, std::span<uint8_t> eligible,
                        std::span<double> score) = 0;
    // Hot path: an index < eligible.size() (never called with an empty span).
    virtual size_t pick(const herd_request& request, std::span<const herd_backend* const> eligible) noexcept = 0;
};

// --- affinity -----------------------------------------------------------------------------------

class HeaderSink {
public:
    explicit HeaderSink(const herd_header_sink* s) : sink_(s) {}
    void add(std::string_view name, std::string_view value) const noexcept {
        sink_->add(sink_->ctx, to_str(name), to_str(value));
    }

private:
    const herd_header_sink* sink_;
};

class Affinity {
public:
    static constexpr herd_kind kind = HERD_KIND_AFFINITY;
    virtual ~Affinity() = default;
    // Hot path: index into eligible, or HERD_AFFINITY_NONE.
    virtual int64_t lookup(const herd_request& request, std::span<const herd_backend* const> eligible) noexcept = 0;
    virtual void remember(const herd_request& request, const herd_backend& chosen,
                          const HeaderSink& response_headers) noexcept = 0;
};

// --- sink (ABI 1.2) -----------------------------------------------------------------------------

// An item of the desired set as apply() receives it: valid only during the call.
struct SinkItemView {
    std::string_view name, media_type, body;
};

// An item a sink holds (what held() returns).
struct SinkItem {
    std::string name, media_type, body;
};

// Thrown from apply() when the agent refused the set: the items that broke it, each with why.
// The message is the overall one; the SDK reports every item through herd_sink_report.
class SinkRefused : public Error {
public:
    SinkRefused(herd_status status, const std::string& message,
                std::vector<std::pair<std::string, std::string>> items)
        : Error(status, message), items_(std::move(items)) {}
    const std::vector<std::pair<std::string, std::string>>& items() const noexcept { return items_; }

private:
    std::vector<std::pair<std::string, std::string>> items_;  // (item name, why)
};

class Sink {
public:
    static constexpr herd_kind kind = HERD_KIND_SINK;
    virtual ~Sink() = default;
    // Make the agent hold exactly `items`; return only once it accepted them. Idempotent. On
    // failure restore what the agent ran before and throw SinkRefused naming the items (or Error
    // for a failure that is nobody's item: the agent is down, a directory is not writable).
    virtual void apply(std::span<const SinkItemView> items) = 0;
    // What the sink holds now.
    virtual std::vector<SinkItem> held() = 0;
    // Per-item load as a JSON object {"<item>": <number>}; nullopt when this sink cannot tell.
    virtual std::optional<std::string> load() { return std::nullopt; }
};

}  // namespace herd::sdk

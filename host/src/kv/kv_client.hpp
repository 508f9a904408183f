// The host's view of a KV instance: the ABI's kv table as C++ calls that throw KvError. Every
// host component that needs the store (herd kv, leader election, sharding, dispatch) uses this.
// Calls may block: never make them from an I/O thread.
#pragma once

#include "plugins/instance.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace herd::kv {

struct Entry {
    std::string key, value;
    int64_t create_revision = 0, mod_revision = 0, lease = 0;
};

struct Event {
    herd_kv_event_type type;
    Entry entry;
};

class KvError : public std::runtime_error {
public:
    KvError(herd_status s, const std::string& m) : std::runtime_error(m), status_(s) {}
    herd_status status() const { return status_; }

private:
    herd_status status_;
};

class KvClient {
public:
    explicit KvClient(const plugins::Instance& instance);

    std::optional<Entry> get(std::string_view key);  // nullopt when absent
    int64_t list(std::string_view prefix, const std::function<void(const Entry&)>& out);
    int64_t put(std::string_view key, std::string_view value, int64_t expected = HERD_KV_EXPECT_ANY, int64_t lease = 0);
    int64_t del(std::string_view key, int64_t expected = HERD_KV_EXPECT_ANY);
    // Leases: KvError(UNSUPPORTED) when the backend has none.
    int64_t lease_grant(std::chrono::milliseconds ttl);
    void lease_keepalive(int64_t lease);
    void lease_revoke(int64_t lease);

    // A running watch; events arrive on the plugin's thread. Stops when destroyed.
    class Watch {
    public:
        ~Watch();
        Watch(const Watch&) = delete;

    private:
        friend class KvClient;
        Watch() = default;
        const plugins::Instance* instance_ = nullptr;
        herd_kv_watch* handle_ = nullptr;
        herd_kv_watch_sink sink_{};
        std::function<void(const std::vector<Event>&)> on_events_;
        std::function<void(int64_t)> on_reset_;
        std::function<void(herd_status, const std::string&)> on_error_;
    };
    std::unique_ptr<Watch> watch(std::string_view prefix, int64_t from_revision,
                                 std::function<void(const std::vector<Event>&)> on_events,
                                 std::function<void(int64_t revision)> on_reset,
                                 std::function<void(herd_status, const std::string&)> on_error);

private:
    const plugins::Instance& instance_;
    const herd_kv_ops* ops_;
};

}  // namespace herd::kv

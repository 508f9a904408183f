#include "kv/kv_client.hpp"

#include "plugins/host_services.hpp"

#include <herd/sdk/error.hpp>

namespace herd::kv {

namespace {
Entry entry_of(const herd_kv_entry* e) {
    return Entry{std::string(e->key.data, e->key.size), std::string(e->value.data, e->value.size), e->create_revision,
                 e->mod_revision, e->lease};
}
void check(herd_status st, const plugins::ErrorCapture& err, const char* op) {
    if (st != HERD_OK)
        throw KvError(st, err.set ? err.message : std::string(op) + " failed with " + plugins::status_name(st));
}
herd_kv_entry_sink sink_of(const std::function<void(const herd_kv_entry*)>* fn) {
    return {{sizeof(herd_kv_entry_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR}, const_cast<void*>(static_cast<const void*>(fn)),
            [](void* c, const herd_kv_entry* e) { (*static_cast<const std::function<void(const herd_kv_entry*)>*>(c))(e); }};
}
}  // namespace

KvClient::KvClient(const plugins::Instance& instance) : instance_(instance), ops_(instance.factory().kv) {}

std::optional<Entry> KvClient::get(std::string_view key) {
    std::optional<Entry> out;
    std::function<void(const herd_kv_entry*)> fn = [&](const herd_kv_entry* e) { out = entry_of(e); };
    auto sink = sink_of(&fn);
    plugins::ErrorCapture err;
    herd_status st = ops_->get(instance_.handle(), sdk::to_str(key), &sink, err.get());
    if (st == HERD_ERR_NOT_FOUND) return std::nullopt;
    check(st, err, "get");
    return out;
}

int64_t KvClient::list(std::string_view prefix, const std::function<void(const Entry&)>& out) {
    std::function<void(const herd_kv_entry*)> fn = [&](const herd_kv_entry* e) { out(entry_of(e)); };
    auto sink = sink_of(&fn);
    plugins::ErrorCapture err;
    int64_t rev = 0;
    check(ops_->list(instance_.handle(), sdk::to_str(prefix), &sink, &rev, err.get()), err, "list");
    return rev;
}

int64_t KvClient::put(std::string_view key, std::string_view value, int64_t expected, int64_t lease) {
    plugins::ErrorCapture err;
    int64_t rev = 0;
    check(ops_->put(instance_.handle(), sdk::to_str(key), sdk::to_str(value), expected, lease, &rev, err.get()), err, "put");
    return rev;
}

int64_t KvClient::del(std::string_view key, int64_t expected) {
    plugins::ErrorCapture err;
    int64_t rev = 0;
    check(ops_->del(instance_.handle(), sdk::to_str(key), expected, &rev, err.get()), err, "delete");
    return rev;
}

int64_t KvClient::lease_grant(std::chrono::milliseconds ttl) {
    if (!ops_->lease_grant) throw KvError(HERD_ERR_UNSUPPORTED, "this KV backend has no leases");
    plugins::ErrorCapture err;
    int64_t lease = 0;
    check(ops_->lease_grant(instance_.handle(), ttl.count(), &lease, err.get()), err, "lease grant");
    return lease;
}

void KvClient::lease_keepalive(int64_t lease) {
    if (!ops_->lease_keepalive) throw KvError(HERD_ERR_UNSUPPORTED, "this KV backend has no leases");
    plugins::ErrorCapture err;
    check(ops_->lease_keepalive(instance_.handle(), lease, err.get()), err, "lease keepalive");
}

void KvClient::lease_revoke(int64_t lease) {
    if (!ops_->lease_revoke) throw KvError(HERD_ERR_UNSUPPORTED, "this KV backend has no leases");
    plugins::ErrorCapture err;
    check(ops_->lease_revoke(instance_.handle(), lease, err.get()), err, "lease revoke");
}

std::unique_ptr<KvClient::Watch> KvClient::watch(std::string_view prefix, int64_t from,
                                                 std::function<void(const std::vector<Event>&)> on_events,
                                                 std::function<void(int64_t)> on_reset,
                                                 std::function<void(herd_status, const std::string&)> on_error) {
    std::unique_ptr<Watch> w(new Watch());
    w->instance_ = &instance_;
    w->on_events_ = std::move(on_events);
    w->on_reset_ = std::move(on_reset);
    w->on_error_ = std::move(on_error);
    w->sink_.header = {sizeof(herd_kv_watch_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR};
    w->sink_.ctx = w.get();
    w->sink_.events = [](void* c, const herd_kv_event* const* ev, size_t n) {
        std::vector<Event> batch;
        for (size_t i = 0; i < n; ++i) batch.push_back({ev[i]->type, entry_of(ev[i]->entry)});
        static_cast<Watch*>(c)->on_events_(batch);
    };
    w->sink_.reset = [](void* c, int64_t rev) { static_cast<Watch*>(c)->on_reset_(rev); };
    w->sink_.error = [](void* c, herd_status s, herd_str m) {
        static_cast<Watch*>(c)->on_error_(s, std::string(m.data, m.size));
    };
    plugins::ErrorCapture err;
    check(ops_->watch(instance_.handle(), sdk::to_str(prefix), from, &w->sink_, &w->handle_, err.get()), err, "watch");
    return w;
}

KvClient::Watch::~Watch() {
    if (handle_) instance_->factory().kv->unwatch(instance_->handle(), handle_);
}

}  // namespace herd::kv

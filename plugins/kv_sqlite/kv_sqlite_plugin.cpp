// kv_sqlite — herd's embedded KV store: a durable SQLite file (WAL, fsync on commit) that several
// herd processes on one machine may share.
//
//   [[kv]]
//   name = "local"
//   plugin = "kv_sqlite"
//   path = "kv.sqlite"          # default: <data_dir>/kv.sqlite; relative to the config's directory
//   timeout = "5s"              # how long a write waits for another process's write
//   history = 100000            # events kept for watches; a watch from before them is reset
//   poll_interval = "50ms"      # how often watches and lease expiry look for changes
#include "sqlite_store.hpp"

#include <herd/sdk/json_config.hpp>
#include <herd/sdk/kv_support.hpp>
#include <herd/sdk/plugin.hpp>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <list>
#include <thread>

namespace herd::kv_sqlite {
namespace {

struct Options {
    std::string path;
    std::chrono::milliseconds timeout{5000};
    int64_t history = 100000;
    std::chrono::milliseconds poll{50};
};

Options parse(const sdk::CreateContext& ctx) {
    sdk::JsonConfig cfg(ctx.config_json);
    Options o;
    std::filesystem::path p = cfg.string("path", "");
    if (p.empty()) p = std::filesystem::path(ctx.data_dir) / "kv.sqlite";
    else if (p.is_relative()) p = std::filesystem::path(ctx.config_dir) / p;
    o.path = p.lexically_normal().string();
    o.timeout = cfg.duration("timeout").value_or(o.timeout);
    o.history = cfg.integer("history").value_or(o.history);
    o.poll = cfg.duration("poll_interval").value_or(o.poll);
    cfg.finish();
    if (o.history < 1) throw sdk::ConfigError("history", "must be at least 1");
    if (o.poll.count() < 1) throw sdk::ConfigError("poll_interval", "must be at least 1ms");
    return o;
}

class SqliteKv final : public sdk::Kv {
public:
    explicit SqliteKv(const sdk::CreateContext& ctx) : host_(ctx.host), opts_(parse(ctx)) {
        // Opening validates the path; it starts no thread (that waits for the first use).
        store_ = std::make_unique<Store>(opts_.path, opts_.timeout, opts_.history);
    }
    ~SqliteKv() override {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (reaper_.joinable()) reaper_.join();
        watches_.stop_all();
    }

    void get(std::string_view key, const sdk::KvEntrySink& out) override {
        start_reaper();
        auto e = sdk::naming_key(key, [&] { return store_->get(key); });
        if (!e) throw sdk::Error(HERD_ERR_NOT_FOUND, "key \"" + std::string(key) + "\" does not exist");
        out(e->key, e->value, e->create_revision, e->mod_revision, e->lease);
    }
    int64_t list(std::string_view prefix, const sdk::KvEntrySink& out) override {
        start_reaper();
        return store_->list(prefix, [&](const Entry& e) { out(e.key, e.value, e.create_revision, e.mod_revision, e.lease); });
    }
    int64_t put(std::string_view key, std::string_view value, int64_t expected, int64_t lease) override {
        start_reaper();
        return sdk::naming_key(key, [&] { return store_->put(key, value, expected, lease); });
    }
    int64_t del(std::string_view key, int64_t expected) override {
        start_reaper();
        return sdk::naming_key(key, [&] { return store_->del(key, expected); });
    }
    int64_t lease_grant(int64_t ttl_ms) override {
        start_reaper();
        return store_->lease_grant(std::chrono::milliseconds(ttl_ms));
    }
    void lease_keepalive(int64_t lease) override { store_->lease_keepalive(lease); }
    void lease_revoke(int64_t lease) override { store_->lease_revoke(lease); }

    herd_kv_watch* watch(std::string_view prefix, int64_t from, const herd_kv_watch_sink* sink) override {
        start_reaper();
        return watches_.start([this, p = std::string(prefix), from, sink](sdk::WatchSet::Stop& stop) {
            run_watch(stop, p, from, sink);
        });
    }
    void unwatch(herd_kv_watch* handle) noexcept override { watches_.stop(handle); }

private:
    // Reads the events table from `after` on, in order, one batch per poll. A watch that fell
    // behind the retained history is reset (the subscriber relists) and goes on from there.
    void run_watch(sdk::WatchSet::Stop& stop, const std::string& prefix, int64_t after, const herd_kv_watch_sink* sink) {
        std::vector<Event> batch;
        for (;;) {
            batch.clear();
            int64_t upto = after;
            try {
                if (!store_->events(prefix, after, &batch, &upto)) {
                    sink->reset(sink->ctx, upto);
                } else if (!batch.empty()) {
                    deliver(batch, sink);
                }
                after = upto;
            } catch (const sdk::Error& e) {
                sink->error(sink->ctx, e.status(), sdk::to_str(e.what()));
            }
            if (!stop.sleep(opts_.poll)) return;
        }
    }

    static void deliver(const std::vector<Event>& batch, const herd_kv_watch_sink* sink) {
        std::vector<herd_kv_entry> entries(batch.size());
        std::vector<herd_kv_event> events(batch.size());
        std::vector<const herd_kv_event*> ptrs(batch.size());
        for (size_t i = 0; i < batch.size(); ++i) {
            const auto& e = batch[i].entry;
            entries[i] = {{sizeof(herd_kv_entry), HERD_ABI_MAJOR, HERD_ABI_MINOR}, sdk::to_str(e.key),
                          sdk::to_str(e.value), e.create_revision, e.mod_revision, e.lease};
            events[i] = {{sizeof(herd_kv_event), HERD_ABI_MAJOR, HERD_ABI_MINOR}, batch[i].type, &entries[i]};
            ptrs[i] = &events[i];
        }
        sink->events(sink->ctx, ptrs.data(), ptrs.size());
    }

    // Lease expiry runs in every process using the file, so a crashed one's leases still expire.
    void start_reaper() {
        std::call_once(reaper_once_, [this] {
            reaper_ = std::thread([this] {
                std::unique_lock lk(mu_);
                while (!cv_.wait_for(lk, opts_.poll, [this] { return stopping_; })) {
                    lk.unlock();
                    try {
                        store_->expire_leases();
                    } catch (const std::exception& e) {
                        host_.warn(std::string("lease expiry: ") + e.what());
                    }
                    lk.lock();
                }
            });
        });
    }

    sdk::Host host_;
    Options opts_;
    std::unique_ptr<Store> store_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::once_flag reaper_once_;
    std::thread reaper_;
    sdk::WatchSet watches_;  // last: its threads stop before the store goes
};

}  // namespace
}  // namespace herd::kv_sqlite

HERD_PLUGIN("kv_sqlite", "0.1.0", "The embedded KV store: a durable SQLite file",
            herd::sdk::factory<herd::kv_sqlite::SqliteKv>("kv_sqlite", "revisions, CAS, watches and leases in one SQLite file"))

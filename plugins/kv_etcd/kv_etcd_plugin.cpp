// kv_etcd — herd's KV table over etcd's v3 JSON gateway.
//
//   [[kv]]
//   name = "shared"
//   plugin = "kv_etcd"
//   endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]   # failed over in turn
//   prefix = "herd/"          # every key lives under it
//   timeout = "5s"
//   username = "herd"         # optional, with password
//   password = "..."
//   ca_file = "..."           # TLS, optional: cert_file and key_file for client certificates
#include "etcd_client.hpp"

#include <herd/sdk/json_config.hpp>
#include <herd/sdk/kv_support.hpp>
#include <herd/sdk/plugin.hpp>

#include <cmath>
#include <condition_variable>
#include <list>
#include <thread>

namespace herd::kv_etcd {
namespace {

using nlohmann::json;

// etcd spells "no upper bound" as a single NUL byte.
std::string range_end(std::string_view prefix) {
    std::string end = sdk::prefix_end(prefix);
    return end.empty() ? std::string(1, '\0') : end;
}

ClientOptions parse(const sdk::CreateContext& ctx, std::string* prefix) {
    sdk::JsonConfig cfg(ctx.config_json);
    ClientOptions o;
    auto endpoints = cfg.strings("endpoints");
    if (!endpoints || endpoints->empty()) throw sdk::ConfigError("endpoints", "name at least one etcd endpoint, e.g. \"http://127.0.0.1:2379\"");
    for (size_t i = 0; i < endpoints->size(); ++i) {
        std::string e = (*endpoints)[i];
        if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0)
            throw sdk::ConfigError("endpoints[" + std::to_string(i) + "]", "\"" + e + "\" must start with http:// or https://");
        while (!e.empty() && e.back() == '/') e.pop_back();
        o.endpoints.push_back(e);
    }
    *prefix = cfg.string("prefix", "");
    o.timeout = cfg.duration("timeout").value_or(o.timeout);
    o.username = cfg.string("username", "");
    o.password = cfg.string("password", "");
    auto file = [&](const char* key) { return ctx.path(cfg.string(key, "")); };
    o.ca_file = file("ca_file");
    o.cert_file = file("cert_file");
    o.key_file = file("key_file");
    cfg.finish();
    if (o.username.empty() != o.password.empty()) throw sdk::ConfigError(o.username.empty() ? "password" : "username", "username and password go together");
    if (o.cert_file.empty() != o.key_file.empty()) throw sdk::ConfigError(o.cert_file.empty() ? "key_file" : "cert_file", "cert_file and key_file go together");
    return o;
}

class EtcdKv final : public sdk::Kv {
public:
    explicit EtcdKv(const sdk::CreateContext& ctx) : host_(ctx.host), client_(parse(ctx, &prefix_)) {}
    ~EtcdKv() override { watches_.stop_all(); }

    void get(std::string_view key, const sdk::KvEntrySink& out) override {
        json r = sdk::naming_key(key, [&] { return client_.call_text("/v3/kv/range", "{\"key\":\"" + base64(full(key)) + "\"}"); });
        if (!r.contains("kvs") || r["kvs"].empty())
            throw sdk::Error(HERD_ERR_NOT_FOUND, "key \"" + std::string(key) + "\" does not exist");
        emit(r["kvs"][0], out);
    }
    int64_t list(std::string_view prefix, const sdk::KvEntrySink& out) override {
        const std::string p = full(prefix);
        json r = client_.call("/v3/kv/range", {{"key", base64(p)}, {"range_end", base64(range_end(p))}});
        if (r.contains("kvs"))
            for (const auto& kv : r["kvs"]) emit(kv, out);
        return i64(r["header"], "revision");
    }
    int64_t put(std::string_view key, std::string_view value, int64_t expected, int64_t lease) override {
        return sdk::naming_key(key, [&] { return put_once(key, value, expected, lease); });
    }
    int64_t del(std::string_view key, int64_t expected) override {
        return sdk::naming_key(key, [&] { return del_once(key, expected); });
    }

    int64_t lease_grant(int64_t ttl_ms) override {
        const int64_t ttl_s = std::max<int64_t>(1, (ttl_ms + 999) / 1000);  // etcd counts seconds
        return i64(client_.call("/v3/lease/grant", {{"TTL", std::to_string(ttl_s)}}), "ID");
    }
    void lease_keepalive(int64_t lease) override {
        json r = client_.call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}});
        if (i64(r.value("result", json::object()), "TTL") <= 0)  // no TTL: the lease is gone
            throw sdk::Error(HERD_ERR_NOT_FOUND, "lease " + std::to_string(lease) + " does not exist or expired");
    }
    void lease_revoke(int64_t lease) override {
        client_.call("/v3/lease/revoke", {{"ID", std::to_string(lease)}});
    }

    herd_kv_watch* watch(std::string_view prefix, int64_t from, const herd_kv_watch_sink* sink) override {
        return watches_.start([this, p = full(prefix), from, sink](sdk::WatchSet::Stop& stop) { run_watch(stop, p, from, sink); });
    }
    void unwatch(herd_kv_watch* handle) noexcept override { watches_.stop(handle); }

private:
    // The writes themselves; put() and del() name the key in whatever they throw.
    // The hot requests are built as text: their fields are base64 and decimal numbers, which need
    // no escaping, and a JSON document per call cost more CPU than the rest of the call (bench/kv).
    static std::string field(const char* name, const std::string& value) {
        return std::string("\"") + name + "\":\"" + value + "\"";
    }
    int64_t put_once(std::string_view key, std::string_view value, int64_t expected, int64_t lease) {
        std::string put = "{" + field("key", base64(full(key))) + "," + field("value", base64(value));
        if (lease) put += "," + field("lease", std::to_string(lease));
        put += "}";
        if (expected == HERD_KV_EXPECT_ANY) {
            try {
                return i64(client_.call_text("/v3/kv/put", put)["header"], "revision");
            } catch (const sdk::Error& e) {
                if (lease && std::string(e.what()).find("lease not found") != std::string::npos)
                    throw sdk::Error(HERD_ERR_NOT_FOUND, "lease " + std::to_string(lease) + " does not exist or expired");
                throw;
            }
        }
        return txn(key, expected, "request_put", put);
    }
    int64_t del_once(std::string_view key, int64_t expected) {
        const std::string del = "{" + field("key", base64(full(key))) + "}";
        if (expected == HERD_KV_EXPECT_ANY) {
            json r = client_.call_text("/v3/kv/deleterange", del);
            if (i64(r, "deleted") == 0) throw sdk::Error(HERD_ERR_NOT_FOUND, "key \"" + std::string(key) + "\" does not exist");
            return i64(r["header"], "revision");
        }
        return txn(key, expected, "request_delete_range", del);
    }

    std::string full(std::string_view key) const { return prefix_ + std::string(key); }

    void emit(const json& kv, const sdk::KvEntrySink& out) const {
        const std::string key = unbase64(kv.value("key", ""));
        out(std::string_view(key).substr(prefix_.size()), unbase64(kv.value("value", "")), i64(kv, "create_revision"),
            i64(kv, "mod_revision"), i64(kv, "lease"));
    }

    // A compare-and-swap: the operation runs only if the key's revision is as expected.
    int64_t txn(std::string_view key, int64_t expected, const char* op_name, const std::string& op) {
        const std::string k = base64(full(key));
        const std::string compare = expected == HERD_KV_EXPECT_ABSENT
                                        ? "{" + field("key", k) + ",\"target\":\"CREATE\",\"result\":\"EQUAL\"," + field("create_revision", "0") + "}"
                                        : "{" + field("key", k) + ",\"target\":\"MOD\",\"result\":\"EQUAL\"," +
                                              field("mod_revision", std::to_string(expected)) + "}";
        const bool is_delete = std::string_view(op_name) == "request_delete_range";
        json r = client_.call_text("/v3/kv/txn", "{\"compare\":[" + compare + "],\"success\":[{\"" + op_name + "\":" + op +
                                                     "}],\"failure\":[{\"request_range\":{" + field("key", k) + "}}]}");
        if (!r.value("succeeded", false)) {
            // Why it failed: the key's actual revision (or its absence), from the failure branch.
            int64_t found = 0;
            if (r.contains("responses") && !r["responses"].empty()) {
                const auto& rr = r["responses"][0].value("response_range", json::object());
                if (rr.contains("kvs") && !rr["kvs"].empty()) found = i64(rr["kvs"][0], "mod_revision");
            }
            if (is_delete && found == 0)
                throw sdk::Error(HERD_ERR_NOT_FOUND, "key \"" + std::string(key) + "\" does not exist");
            std::string e = expected == HERD_KV_EXPECT_ABSENT ? "absent" : "at revision " + std::to_string(expected);
            std::string f = found ? "at revision " + std::to_string(found) : "absent";
            throw sdk::Error(HERD_ERR_CONFLICT, "key \"" + std::string(key) + "\": expected " + e + ", found " + f);
        }
        if (is_delete) {
            const auto& resp = r["responses"][0].value("response_delete_range", json::object());
            if (i64(resp, "deleted") == 0) throw sdk::Error(HERD_ERR_NOT_FOUND, "key \"" + std::string(key) + "\" does not exist");
        }
        return i64(r["header"], "revision");
    }

    // One streaming watch at a time, resumed after the last revision delivered whenever the stream
    // breaks (server restart, endpoint failover), with a growing pause between attempts. A
    // compacted start means history is gone: reset (the subscriber relists) and go on from now.
    void run_watch(sdk::WatchSet::Stop& stop, const std::string& prefix, int64_t after, const herd_kv_watch_sink* sink) {
        auto backoff = std::chrono::milliseconds(100);
        while (!stop.requested()) {
            try {
                json create{{"create_request",
                             {{"key", base64(prefix)}, {"range_end", base64(range_end(prefix))},
                              {"start_revision", std::to_string(after + 1)}, {"progress_notify", true}}}};
                client_.stream("/v3/watch", create, [&](const json& line) {
                    if (line.contains("error")) throw sdk::Error(HERD_ERR_UNAVAILABLE, line["error"].value("message", "watch error"));
                    const json& res = line.value("result", json::object());
                    if (i64(res, "compact_revision") > 0) {
                        // Events after `after` were compacted away: start over from the present.
                        int64_t now = i64(client_.call("/v3/kv/range", {{"key", base64(prefix)}, {"limit", "1"}})["header"], "revision");
                        sink->reset(sink->ctx, now);
                        after = now;
                        throw sdk::Error(HERD_ERR_COMPACTED, "restart");
                    }
                    if (!res.contains("events")) return;
                    deliver(res["events"], sink, &after);
                    backoff = std::chrono::milliseconds(100);
                }, stop.flag());
            } catch (const sdk::Error& e) {
                if (e.status() == HERD_ERR_COMPACTED) continue;  // restarted above
                if (!stop.requested()) sink->error(sink->ctx, e.status(), sdk::to_str(e.what()));
            } catch (const std::exception& e) {
                if (!stop.requested()) sink->error(sink->ctx, HERD_ERR_INTERNAL, sdk::to_str(e.what()));
            }
            if (!stop.sleep(backoff)) return;
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        }
    }

    void deliver(const json& events, const herd_kv_watch_sink* sink, int64_t* after) const {
        std::vector<std::string> keys, values;
        std::vector<herd_kv_entry> entries;
        std::vector<herd_kv_event> evs;
        keys.reserve(events.size());
        values.reserve(events.size());
        entries.reserve(events.size());
        evs.reserve(events.size());
        for (const auto& e : events) {
            const json& kv = e.value("kv", json::object());
            const int64_t rev = i64(kv, "mod_revision");
            if (rev <= *after) continue;  // a resumed stream never repeats what was delivered
            keys.push_back(unbase64(kv.value("key", "")).substr(prefix_.size()));
            values.push_back(unbase64(kv.value("value", "")));
            entries.push_back({{sizeof(herd_kv_entry), HERD_ABI_MAJOR, HERD_ABI_MINOR}, sdk::to_str(keys.back()),
                               sdk::to_str(values.back()), i64(kv, "create_revision"), rev, i64(kv, "lease")});
            evs.push_back({{sizeof(herd_kv_event), HERD_ABI_MAJOR, HERD_ABI_MINOR},
                           e.value("type", "") == "DELETE" ? HERD_KV_EVENT_DELETE : HERD_KV_EVENT_PUT, nullptr});
        }
        if (evs.empty()) return;
        std::vector<const herd_kv_event*> ptrs;
        for (size_t i = 0; i < evs.size(); ++i) {
            evs[i].entry = &entries[i];
            ptrs.push_back(&evs[i]);
        }
        sink->events(sink->ctx, ptrs.data(), ptrs.size());
        *after = entries.back().mod_revision;
    }

    sdk::Host host_;
    std::string prefix_;
    EtcdClient client_;
    sdk::WatchSet watches_;  // last: its threads stop before the client goes
};

}  // namespace
}  // namespace herd::kv_etcd

HERD_PLUGIN("kv_etcd", "0.1.0", "herd's KV table on etcd (v3 JSON gateway)",
            herd::sdk::factory<herd::kv_etcd::EtcdKv>("kv_etcd", "revisions, CAS, watches and leases on an etcd cluster"))

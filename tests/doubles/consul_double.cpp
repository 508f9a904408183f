#include "consul_double.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

namespace herd::test {

using ojson = nlohmann::ordered_json;  // Consul's field order
using clock_type = std::chrono::steady_clock;

namespace {

// Kept apart from the plugin's own base64 so a bug there cannot hide here.
std::string encode64(std::string_view in) {
    static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
    }
    if (i + 1 == in.size()) {
        uint32_t v = uint8_t(in[i]) << 16;
        out += {a[v >> 18], a[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
        out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], '='};
    }
    return out;
}

// Go's time.ParseDuration for what Consul's clients send: "10s", "1m30s", "150ms", "0".
std::optional<std::chrono::nanoseconds> go_duration(std::string_view s) {
    if (s == "0") return std::chrono::nanoseconds(0);
    if (s.empty()) return std::nullopt;
    double total = 0;
    while (!s.empty()) {
        size_t n = 0;
        while (n < s.size() && (std::isdigit(static_cast<unsigned char>(s[n])) || s[n] == '.')) ++n;
        if (n == 0) return std::nullopt;
        double v = std::stod(std::string(s.substr(0, n)));
        s.remove_prefix(n);
        size_t u = 0;
        while (u < s.size() && std::isalpha(static_cast<unsigned char>(s[u]))) ++u;
        std::string_view unit = s.substr(0, u);
        s.remove_prefix(u);
        double scale;
        if (unit == "ns") scale = 1;
        else if (unit == "us") scale = 1e3;
        else if (unit == "ms") scale = 1e6;
        else if (unit == "s") scale = 1e9;
        else if (unit == "m") scale = 60e9;
        else if (unit == "h") scale = 3600e9;
        else return std::nullopt;
        total += v * scale;
    }
    return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

std::string go_string(std::chrono::nanoseconds d) {  // as Go prints a time.Duration of whole seconds
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s < 60) return std::to_string(s) + "s";
    if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
    return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m" + std::to_string(s % 60) + "s";
}

// Keys as the newest Consul accepts them.
bool valid_key(const std::string& k) {
    if (!k.empty() && k.front() == '/') return false;
    if (k.find("../") != std::string::npos || k == "..") return false;
    return std::all_of(k.begin(), k.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == ',' || c == '-' || c == '_' || c == '.' || c == '/';
    });
}

DoubleResponse json_response(int status, const std::string& body, uint64_t index = 0) {
    DoubleResponse r{status, {{"Content-Type", "application/json"}}, body};
    if (index) {
        r.headers.emplace_back("X-Consul-Index", std::to_string(index));
        r.headers.emplace_back("X-Consul-Knownleader", "true");
        r.headers.emplace_back("X-Consul-Lastcontact", "0");
    }
    return r;
}

DoubleResponse text(int status, const std::string& body) { return {status, {{"Content-Type", "text/plain; charset=utf-8"}}, body}; }

}  // namespace

struct ConsulDouble::State {
    Options opt;
    mutable std::mutex mu;
    std::condition_variable changed;  // any write, a session expiry, a stop
    bool stopping = false;
    uint64_t raft = 10;               // the last raft index (writes of every kind take the next)
    struct Entry {
        std::string value;
        uint64_t create = 0, modify = 0, lock_index = 0, flags = 0;
        std::string session;
    };
    std::map<std::string, Entry> kv;
    std::map<std::string, uint64_t> tombstones;  // key -> index of its delete
    struct Session {
        std::string id, name, behavior;
        std::chrono::nanoseconds ttl{0}, lock_delay{0};
        clock_type::time_point deadline;
        uint64_t create = 0, modify = 0;
    };
    std::map<std::string, Session> sessions;
    std::map<std::string, clock_type::time_point> lock_delay;  // key -> no acquire before
    size_t blocking = 0;
    std::mt19937_64 rng{std::random_device{}()};
    std::thread reaper;

    uint64_t next() { return ++raft; }

    // Consul's KV table index: the highest index of any entry or tombstone (at least 1).
    uint64_t table_index() const {
        uint64_t i = 0;
        for (const auto& [k, e] : kv) i = std::max(i, e.modify);
        for (const auto& [k, t] : tombstones) i = std::max(i, t);
        return std::max<uint64_t>(i, 1);
    }
    // A prefix listing's index: the highest of its entries and tombstones, else the table's.
    uint64_t prefix_index(const std::string& prefix) const {
        if (prefix.empty()) return table_index();
        uint64_t i = 0;
        for (auto it = kv.lower_bound(prefix); it != kv.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
            i = std::max(i, it->second.modify);
        for (auto it = tombstones.lower_bound(prefix); it != tombstones.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
            i = std::max(i, it->second);
        return i ? i : table_index();
    }

    void remove(const std::string& key, uint64_t idx) {
        kv.erase(key);
        tombstones[key] = idx;
    }

    std::string uuid() {
        std::uniform_int_distribution<int> d(0, 15);
        std::string u;
        for (int i = 0; i < 36; ++i) u += (i == 8 || i == 13 || i == 18 || i == 23) ? '-' : "0123456789abcdef"[d(rng)];
        return u;
    }

    // A session ends: its locks are released or its keys deleted, per its behavior; the keys it
    // held are not acquirable for its lock-delay.
    void invalidate(const std::string& id) {
        auto it = sessions.find(id);
        if (it == sessions.end()) return;
        const Session s = it->second;
        sessions.erase(it);
        const uint64_t idx = next();
        std::vector<std::string> held;
        for (const auto& [k, e] : kv)
            if (e.session == id) held.push_back(k);
        for (const auto& k : held) {
            if (s.lock_delay.count() > 0) lock_delay[k] = clock_type::now() + s.lock_delay;
            if (s.behavior == "delete") {
                remove(k, idx);
            } else {
                kv[k].session.clear();
                kv[k].modify = idx;
            }
        }
        changed.notify_all();
    }

    ojson session_json(const Session& s) const {
        return ojson{{"ID", s.id},
                     {"Name", s.name},
                     {"Node", "herd-test"},
                     {"LockDelay", s.lock_delay.count()},
                     {"Behavior", s.behavior},
                     {"TTL", s.ttl.count() ? go_string(s.ttl) : ""},
                     {"NodeChecks", ojson::array({"serfHealth"})},
                     {"ServiceChecks", nullptr},
                     {"CreateIndex", s.create},
                     {"ModifyIndex", s.modify}};
    }

    ojson entry_json(const std::string& k, const Entry& e) const {
        ojson j{{"CreateIndex", e.create}, {"ModifyIndex", e.modify}, {"LockIndex", e.lock_index}, {"Key", k},
                {"Flags", e.flags}};
        j["Value"] = e.value.empty() ? ojson(nullptr) : ojson(encode64(e.value));
        if (!e.session.empty()) j["Session"] = e.session;
        return j;
    }
};

ConsulDouble::ConsulDouble() : ConsulDouble(Options{}) {}

ConsulDouble::ConsulDouble(Options o) : state_(std::make_unique<State>()) {
    state_->opt = std::move(o);
    state_->reaper = std::thread([s = state_.get()] {  // session TTLs
        std::unique_lock lk(s->mu);
        while (!s->stopping) {
            s->changed.wait_for(lk, std::chrono::milliseconds(20));
            std::vector<std::string> expired;
            for (const auto& [id, sess] : s->sessions)
                if (sess.ttl.count() && clock_type::now() >= sess.deadline) expired.push_back(id);
            for (const auto& id : expired) s->invalidate(id);
        }
    });
    server_ = std::make_unique<HttpDouble>([this](const DoubleRequest& r, DoubleReply& reply) { handle(r, reply); },
                                           [s = state_.get()] {
                                               std::lock_guard lk(s->mu);
                                               s->changed.notify_all();  // blocked queries look at stopping()
                                           });
}

ConsulDouble::~ConsulDouble() {
    server_.reset();
    {
        std::lock_guard lk(state_->mu);
        state_->stopping = true;
    }
    state_->changed.notify_all();
    state_->reaper.join();
}

void ConsulDouble::reap_tombstones() {
    std::lock_guard lk(state_->mu);
    state_->tombstones.clear();
    state_->changed.notify_all();
}

uint64_t ConsulDouble::index() const {
    std::lock_guard lk(state_->mu);
    return state_->raft;
}

size_t ConsulDouble::sessions() const {
    std::lock_guard lk(state_->mu);
    return state_->sessions.size();
}

size_t ConsulDouble::blocking_queries() const {
    std::lock_guard lk(state_->mu);
    return state_->blocking;
}

void ConsulDouble::handle(const DoubleRequest& req, DoubleReply& reply) {
    State& S = *state_;
    // ACLs: a missing token is the anonymous token, which may do nothing here.
    if (!S.opt.token.empty()) {
        std::string token = req.header("x-consul-token");
        const std::string auth = req.header("authorization");
        if (token.empty() && auth.rfind("Bearer ", 0) == 0) token = auth.substr(7);
        if (token.empty()) return reply.send(text(403, "Permission denied"));
        if (token != S.opt.token) return reply.send(text(403, "ACL not found"));
    }
    if (req.has("dc") && req.param("dc") != S.opt.datacenter) return reply.send(text(500, "No path to datacenter"));

    const std::string& p = req.path;
    if (p == "/v1/status/leader") return reply.send(json_response(200, "\"127.0.0.1:8300\""));
    if (p == "/v1/status/peers") return reply.send(json_response(200, "[\"127.0.0.1:8300\"]"));

    std::unique_lock lk(S.mu);
    if (p.rfind("/v1/kv/", 0) == 0) {
        const std::string key = p.substr(7);
        if (!valid_key(key)) return reply.send(text(400, "Invalid key. Key must not begin with a '/' and may only contain letters, digits, ',', '-', '_', '.' and '/'"));

        if (req.method == "GET") {
            const bool recurse = req.has("recurse"), keys = req.has("keys");
            auto index_now = [&] { return recurse || keys ? S.prefix_index(key) : S.table_index(); };
            // Blocking query: wait (up to `wait` + jitter of wait/16) for the index to pass ?index.
            const uint64_t min = std::strtoull(req.param("index", "0").c_str(), nullptr, 10);
            if (min > 0) {
                ++S.blocking;
                auto wait = go_duration(req.param("wait", "5m")).value_or(std::chrono::minutes(5));
                wait = std::min<std::chrono::nanoseconds>(wait, std::chrono::minutes(10));
                const auto jitter = std::chrono::nanoseconds(std::uniform_int_distribution<int64_t>(0, wait.count() / 16)(S.rng));
                const auto until = clock_type::now() + wait + jitter;
                S.changed.wait_until(lk, until, [&] { return index_now() > min || reply.stopping(); });
                if (reply.stopping()) return;
            }
            const uint64_t idx = index_now();
            if (keys) {
                const std::string sep = req.param("separator");
                std::set<std::string> out;
                for (auto it = S.kv.lower_bound(key); it != S.kv.end() && it->first.compare(0, key.size(), key) == 0; ++it) {
                    std::string k = it->first;
                    if (!sep.empty()) {
                        auto s = k.find(sep, key.size());
                        if (s != std::string::npos) k = k.substr(0, s + sep.size());
                    }
                    out.insert(k);
                }
                if (out.empty() && !key.empty()) return reply.send(json_response(404, "", idx));
                return reply.send(json_response(200, ojson(std::vector<std::string>(out.begin(), out.end())).dump(), idx));
            }
            ojson arr = ojson::array();
            if (recurse) {
                for (auto it = S.kv.lower_bound(key); it != S.kv.end() && it->first.compare(0, key.size(), key) == 0; ++it)
                    arr.push_back(S.entry_json(it->first, it->second));
            } else if (auto it = S.kv.find(key); it != S.kv.end()) {
                if (req.has("raw")) {
                    auto r = text(200, it->second.value);
                    r.headers.emplace_back("X-Consul-Index", std::to_string(idx));
                    return reply.send(r);
                }
                arr.push_back(S.entry_json(it->first, it->second));
            }
            if (arr.empty()) return reply.send(json_response(404, "", idx));
            return reply.send(json_response(200, arr.dump(), idx));
        }

        if (req.method == "PUT") {
            if (key.empty()) return reply.send(text(400, "Missing key name"));
            if (req.body.size() > S.opt.max_value)
                return reply.send(text(413, "Request body(" + std::to_string(req.body.size()) + " bytes) too large, max size: " +
                                                std::to_string(S.opt.max_value) + " bytes."));
            const int modes = req.has("cas") + req.has("acquire") + req.has("release");
            if (modes > 1) return reply.send(text(400, "Conflicting flags: cas, acquire and release are mutually exclusive"));
            State::Entry e;
            e.value = req.body;
            e.flags = std::strtoull(req.param("flags", "0").c_str(), nullptr, 10);
            auto existing = S.kv.find(key);
            auto write = [&](bool set_session) {  // kvsSetTxn: an unchanged entry is not written
                if (existing != S.kv.end()) {
                    if (!set_session) e.session = existing->second.session;
                    e.create = existing->second.create;
                    if (!set_session) e.lock_index = existing->second.lock_index;
                    const auto& x = existing->second;
                    if (x.value == e.value && x.flags == e.flags && x.session == e.session && x.lock_index == e.lock_index) return;
                } else if (!set_session) {
                    e.session.clear();
                }
                e.modify = S.next();
                if (existing == S.kv.end()) e.create = e.modify;
                S.kv[key] = e;
                S.tombstones.erase(key);
                S.changed.notify_all();
            };
            if (req.has("cas")) {
                const uint64_t cas = std::strtoull(req.param("cas").c_str(), nullptr, 10);
                const bool ok = cas == 0 ? existing == S.kv.end()
                                         : existing != S.kv.end() && existing->second.modify == cas;
                if (ok) write(false);
                return reply.send(json_response(200, ok ? "true" : "false"));
            }
            if (req.has("acquire")) {
                const std::string sid = req.param("acquire");
                if (!S.sessions.count(sid)) return reply.send(text(500, "invalid session \"" + sid + "\""));
                if (auto d = S.lock_delay.find(key); d != S.lock_delay.end() && clock_type::now() < d->second)
                    return reply.send(json_response(200, "false"));
                if (existing != S.kv.end()) {
                    if (existing->second.session == sid) e.lock_index = existing->second.lock_index;
                    else if (!existing->second.session.empty()) return reply.send(json_response(200, "false"));
                    else e.lock_index = existing->second.lock_index + 1;
                } else {
                    e.lock_index = 1;
                }
                e.session = sid;
                write(true);
                return reply.send(json_response(200, "true"));
            }
            if (req.has("release")) {
                const std::string sid = req.param("release");
                if (existing == S.kv.end() || existing->second.session != sid) return reply.send(json_response(200, "false"));
                e.session.clear();
                e.lock_index = existing->second.lock_index;
                write(true);
                return reply.send(json_response(200, "true"));
            }
            write(false);
            return reply.send(json_response(200, "true"));
        }

        if (req.method == "DELETE") {
            if (req.has("recurse")) {
                const uint64_t idx = S.next();
                std::vector<std::string> gone;
                for (auto it = S.kv.lower_bound(key); it != S.kv.end() && it->first.compare(0, key.size(), key) == 0; ++it)
                    gone.push_back(it->first);
                for (const auto& k : gone) S.remove(k, idx);
                S.changed.notify_all();
                return reply.send(json_response(200, "true"));
            }
            auto it = S.kv.find(key);
            if (req.has("cas")) {  // kvsDeleteCASTxn: a missing key "succeeds"; cas=0 never deletes one
                const uint64_t cas = std::strtoull(req.param("cas").c_str(), nullptr, 10);
                if (it == S.kv.end()) return reply.send(json_response(200, "true"));
                if (it->second.modify != cas) return reply.send(json_response(200, "false"));
            }
            if (it != S.kv.end()) {
                S.remove(key, S.next());
                S.changed.notify_all();
            }
            return reply.send(json_response(200, "true"));
        }
        return reply.send(text(405, "method " + req.method + " not allowed"));
    }

    if (p == "/v1/session/create" && req.method == "PUT") {
        ojson body = req.body.empty() ? ojson::object() : ojson::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) return reply.send(text(400, "Request decode failed: invalid JSON"));
        State::Session s;
        s.name = body.value("Name", "");
        s.behavior = body.value("Behavior", "release");
        if (s.behavior != "release" && s.behavior != "delete")
            return reply.send(text(400, "Invalid Behavior setting '" + s.behavior + "'"));
        auto ttl = go_duration(body.value("TTL", "0"));
        if (!ttl) return reply.send(text(400, "Request decode failed: invalid TTL"));
        if (ttl->count() != 0 && (*ttl < S.opt.min_ttl || *ttl > std::chrono::hours(24)))
            return reply.send(text(400, "Invalid Session TTL '" + std::to_string(ttl->count()) + "', must be between [" +
                                            go_string(S.opt.min_ttl) + "=24h0m0s]"));
        s.ttl = *ttl;
        s.lock_delay = go_duration(body.value("LockDelay", "15s")).value_or(std::chrono::seconds(15));
        s.id = S.uuid();
        s.create = s.modify = S.next();
        s.deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(s.ttl * S.opt.ttl_multiplier);
        S.sessions[s.id] = s;
        return reply.send(json_response(200, ojson{{"ID", s.id}}.dump()));
    }
    if (p.rfind("/v1/session/renew/", 0) == 0 && req.method == "PUT") {
        const std::string id = p.substr(18);
        auto it = S.sessions.find(id);
        if (it == S.sessions.end()) return reply.send(text(404, "Session id '" + id + "' not found"));
        it->second.deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(it->second.ttl * S.opt.ttl_multiplier);
        return reply.send(json_response(200, ojson::array({S.session_json(it->second)}).dump()));
    }
    if (p.rfind("/v1/session/destroy/", 0) == 0 && req.method == "PUT") {
        S.invalidate(p.substr(20));
        return reply.send(json_response(200, "true"));
    }
    if (p.rfind("/v1/session/info/", 0) == 0 && req.method == "GET") {
        auto it = S.sessions.find(p.substr(17));
        ojson arr = ojson::array();
        if (it != S.sessions.end()) arr.push_back(S.session_json(it->second));
        return reply.send(json_response(200, arr.dump(), S.raft));
    }
    reply.send(text(404, ""));
}

}  // namespace herd::test

#include "config/config.hpp"

#include "util/host_port.hpp"

#include <herd/sdk/duration.hpp>

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

namespace herd::config {

namespace fs = std::filesystem;

namespace {

Position pos_of(const toml::source_region& r) {
    return {static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

nlohmann::json to_json(const toml::node& n) {
    if (auto* t = n.as_table()) {
        auto o = nlohmann::json::object();
        for (auto&& [k, v] : *t) o[std::string(k.str())] = to_json(v);
        return o;
    }
    if (auto* a = n.as_array()) {
        auto o = nlohmann::json::array();
        for (auto&& v : *a) o.push_back(to_json(v));
        return o;
    }
    if (auto* s = n.as_string()) return s->get();
    if (auto* i = n.as_integer()) return i->get();
    if (auto* f = n.as_floating_point()) return f->get();
    if (auto* b = n.as_boolean()) return b->get();
    // Dates and times reach plugins as their TOML text.
    std::ostringstream os;
    n.visit([&](auto&& v) { os << v; });
    return os.str();
}

bool valid_instance_name(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    return true;
}

const char* type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a float";
        case toml::node_type::boolean: return "a boolean";
        default: return "a date/time";
    }
}

class Loader {
public:
    Loader(std::string file, fs::path base, fs::path default_plugin_dir)
        : file_(std::move(file)), base_(std::move(base)), default_plugin_dir_(std::move(default_plugin_dir)) {}

    LoadResult run(std::string_view text) {
        LoadResult out;
        try {
            root_ = std::make_shared<toml::table>(toml::parse(text, file_));
        } catch (const toml::parse_error& e) {
            out.errors.push_back({file_, pos_of(e.source()), std::string(e.description())});
            return out;
        }
        const toml::table& root = *root_;
        Config cfg;
        cfg.file = file_;
        cfg.base_dir = base_;
        cfg.host.plugin_dir = default_plugin_dir_;
        cfg.host.plugin_dirs = {default_plugin_dir_};
        cfg.host.data_dir = "/var/lib/herd";

        for (auto&& [key, node] : root) {
            const std::string k(key.str());
            if (k == "host") {
                host(node, cfg.host);
            } else if (k == "kv" || k == "discovery" || k == "sink") {
                instances(k, node, cfg);
            } else if (k == "proxy" || k == "sharding" || k == "dispatch") {
                pipelines(k, node, cfg);
            } else {
                error(pos_of(key.source()),
                      "unknown key \"" + k +
                          "\" (expected [host], [[kv]], [[discovery]], [[sink]], [[proxy]], [[sharding]], [[dispatch]])");
            }
        }
        check_references(cfg);
        if (errors_.empty()) out.config = std::move(cfg);
        out.errors = std::move(errors_);
        return out;
    }

private:
    void error(Position p, std::string m) { errors_.push_back({file_, p, std::move(m)}); }

    fs::path path(const toml::node& n) {
        fs::path p(n.as_string()->get());
        return p.is_relative() ? (base_ / p).lexically_normal() : p;
    }

    bool expect(const toml::node& n, toml::node_type t, const std::string& key, const char* what) {
        if (n.type() == t) return true;
        error(pos_of(n.source()), "\"" + key + "\" must be " + what + ", not " + type_name(n));
        return false;
    }

    void host(const toml::node& node, HostConfig& h) {
        if (!expect(node, toml::node_type::table, "host", "a table")) return;
        for (auto&& [key, v] : *node.as_table()) {
            const std::string k(key.str());
            if (k == "plugin_dir" && v.is_array()) {
                // A search path: plugin_dir = ["/opt/herd/plugins", "/usr/lib/herd/plugins"].
                std::vector<fs::path> dirs;
                const auto& a = *v.as_array();
                for (size_t i = 0; i < a.size(); ++i)
                    if (expect(*a.get(i), toml::node_type::string, k + "[" + std::to_string(i) + "]", "a string")) dirs.push_back(path(*a.get(i)));
                if (a.empty()) error(pos_of(v.source()), "\"plugin_dir\" lists no directory");
                else if (!dirs.empty()) {
                    h.plugin_dirs = dirs;
                    h.plugin_dir = dirs.front();
                }
            } else if (k == "plugin_dir" || k == "data_dir") {
                if (expect(v, toml::node_type::string, k, "a string or, for plugin_dir, an array of strings")) {
                    (k == "plugin_dir" ? h.plugin_dir : h.data_dir) = path(v);
                    if (k == "plugin_dir") h.plugin_dirs = {h.plugin_dir};
                }
            } else if (k == "admin") {
                if (expect(v, toml::node_type::string, k, "a string")) {
                    h.admin = v.as_string()->get();
                    try {
                        util::split_host_port(h.admin);
                    } catch (const std::exception& e) {
                        error(pos_of(v.source()), std::string("\"admin\": ") + e.what() + " (write host:port, e.g. \"127.0.0.1:9095\")");
                    }
                }
            } else if (k == "log_level") {
                static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
                if (expect(v, toml::node_type::string, k, "a string")) {
                    h.log_level = v.as_string()->get();
                    if (!levels.count(h.log_level))
                        error(pos_of(v.source()), "\"log_level\" must be one of trace, debug, info, warn, error, critical, off");
                }
            } else if (k == "drain_timeout" || k == "load_probe_timeout" || k == "create_probe_timeout") {
                if (expect(v, toml::node_type::string, k, "a duration string like \"10s\"")) {
                    auto d = sdk::parse_duration(v.as_string()->get());
                    if (!d || d->count() == 0) error(pos_of(v.source()), "\"" + k + "\" is not a positive duration (e.g. \"10s\")");
                    else (k == "drain_timeout" ? h.drain_timeout : k == "load_probe_timeout" ? h.load_probe_timeout : h.create_probe_timeout) = *d;
                }
            } else {
                error(pos_of(key.source()), "unknown key \"" + k + "\" in [host] (expected plugin_dir, data_dir, admin, log_level, "
                                                                     "drain_timeout, load_probe_timeout, create_probe_timeout)");
            }
        }
    }

    // The tables of a [[section]], or an error when the key is not an array of tables.
    std::vector<const toml::table*> tables_of(const std::string& section, const toml::node& node) {
        std::vector<const toml::table*> out;
        if (!node.is_array_of_tables()) {
            error(pos_of(node.source()), "\"" + section + "\" must be an array of tables: write [[" + section + "]]");
            return out;
        }
        for (auto&& item : *node.as_array()) out.push_back(item.as_table());
        return out;
    }

    void instances(const std::string& section, const toml::node& node, Config& cfg) {
        const herd_kind kind = section == "kv"        ? HERD_KIND_KV
                               : section == "discovery" ? HERD_KIND_DISCOVERY
                                                        : HERD_KIND_SINK;
        for (const toml::table* table : tables_of(section, node)) {
            const auto& t = *table;
            InstanceConfig ic;
            ic.kind = kind;
            ic.section = section;
            ic.where = pos_of(t.source());
            // Copies of toml++ nodes lose their source regions: alias into the parsed document.
            ic.table = std::shared_ptr<const toml::table>(root_, &t);
            ic.settings = nlohmann::json::object();
            bool ok = true;
            for (auto&& [key, v] : t) {
                const std::string k(key.str());
                if (k == "name" || k == "plugin" || k == "factory") {
                    if (!expect(v, toml::node_type::string, k, "a string")) {
                        ok = false;
                        continue;
                    }
                    (k == "name" ? ic.name : k == "plugin" ? ic.plugin : ic.factory) = v.as_string()->get();
                } else {
                    ic.settings[k] = to_json(v);
                }
            }
            if (!ok) continue;
            if (!t.contains("name")) {
                error(ic.where, "[[" + section + "]] needs a name = \"...\"");
                continue;
            }
            if (!valid_instance_name(ic.name)) {
                error(pos_of(t["name"].node()->source()),
                      "name \"" + ic.name + "\" may only contain letters, digits, '_', '-' and '.'");
                continue;
            }
            if (ic.plugin.empty()) {
                error(ic.where, "[[" + section + "]] \"" + ic.name + "\" needs a plugin = \"...\"");
                continue;
            }
            if (auto* prev = cfg.find(kind, ic.name)) {
                error(pos_of(t["name"].node()->source()), "duplicate " + section + " name \"" + ic.name +
                                                              "\" (first defined at line " +
                                                              std::to_string(prev->where.line) + ")");
                continue;
            }
            cfg.instances.push_back(std::move(ic));
        }
    }

    // Typed readers for pipeline keys: each reports its own error and leaves the default.
    bool read(const toml::node& v, const std::string& k, std::string& out) {
        if (!expect(v, toml::node_type::string, k, "a string")) return false;
        out = v.as_string()->get();
        return true;
    }
    void read(const toml::node& v, const std::string& k, bool& out) {
        if (expect(v, toml::node_type::boolean, k, "true or false")) out = v.as_boolean()->get();
    }
    void read(const toml::node& v, const std::string& k, int& out, int lo, int hi) {
        if (!expect(v, toml::node_type::integer, k, "an integer")) return;
        auto n = v.as_integer()->get();
        if (n < lo || n > hi)
            error(pos_of(v.source()), "\"" + k + "\" must be between " + std::to_string(lo) + " and " + std::to_string(hi));
        else
            out = static_cast<int>(n);
    }
    void read(const toml::node& v, const std::string& k, std::chrono::milliseconds& out) {
        std::string s;
        if (!read(v, k, s)) return;
        auto d = sdk::parse_duration(s);
        if (!d || d->count() == 0) error(pos_of(v.source()), "\"" + k + "\" must be a positive duration such as \"10s\"");
        else out = *d;
    }
    // 1048576, "512KiB", "10MiB", "1GiB", "10MB"
    void read_size(const toml::node& v, const std::string& k, uint64_t& out) {
        if (auto* i = v.as_integer()) {
            if (i->get() <= 0) error(pos_of(v.source()), "\"" + k + "\" must be positive");
            else out = static_cast<uint64_t>(i->get());
            return;
        }
        std::string s;
        if (!read(v, k, s)) return;
        size_t used = 0;
        unsigned long long n = 0;
        try {
            n = std::stoull(s, &used);
        } catch (...) {
            used = 0;
        }
        static const std::map<std::string, uint64_t> units{{"", 1},        {"B", 1},          {"KB", 1000},
                                                           {"MB", 1000000}, {"GB", 1000000000}, {"KiB", 1ull << 10},
                                                           {"MiB", 1ull << 20}, {"GiB", 1ull << 30}};
        auto u = used ? units.find(s.substr(used)) : units.end();
        if (u == units.end() || n == 0) error(pos_of(v.source()), "\"" + k + "\" must be a size such as \"10MiB\"");
        else out = n * u->second;
    }

    // [[proxy]]: one HTTP endpoint in front of replicas; see docs/configuration.md.
    void proxy(const toml::table& t, PipelineConfig& p) {
        ProxyConfig c;
        for (auto&& [key, v] : t) {
            const std::string k(key.str());
            if (k == "name") continue;
            if (k == "listen") {
                if (!read(v, k, c.listen)) continue;
                try {
                    util::split_host_port(c.listen);
                } catch (const std::exception& e) {
                    error(pos_of(v.source()), std::string("\"listen\": ") + e.what());
                }
            } else if (k == "backends") {
                if (!expect(v, toml::node_type::array, k, "an array of [[discovery]] names")) continue;
                auto& a = *v.as_array();
                for (size_t i = 0; i < a.size(); ++i) {
                    std::string name;
                    if (!read(*a.get(i), k + "[" + std::to_string(i) + "]", name)) continue;
                    p.discovery_refs.emplace_back(k + "[" + std::to_string(i) + "]", name);
                    c.backends.push_back(name);
                }
            } else if (k == "strategy") {
                if (expect(v, toml::node_type::table, k, "a table like { plugin = \"selector\", name = \"random\" }"))
                    plugin_ref(*v.as_table(), HERD_KIND_SELECTOR, k, p, &c);
            } else if (k == "affinity") {
                if (!expect(v, toml::node_type::array, k, "an array of tables")) continue;
                auto& a = *v.as_array();
                for (size_t i = 0; i < a.size(); ++i) {
                    const std::string ik = k + "[" + std::to_string(i) + "]";
                    if (expect(*a.get(i), toml::node_type::table, ik, "a table like { plugin = \"affinity\", name = \"cookie\" }"))
                        plugin_ref(*a.get(i)->as_table(), HERD_KIND_AFFINITY, ik, p, nullptr);
                }
            } else if (k == "retries") {
                read(v, k, c.retries, 0, 10);
            } else if (k == "threads") {
                read(v, k, c.threads, 1, 256);
            } else if (k == "eject_after") {
                read(v, k, c.eject_after, 1, 1000);
            } else if (k == "path_prefix") {
                if (read(v, k, c.path_prefix) && (c.path_prefix.empty() || c.path_prefix.front() != '/'))
                    error(pos_of(v.source()), "\"path_prefix\" must start with '/', e.g. \"/prom\"");
                while (c.path_prefix.size() > 1 && c.path_prefix.back() == '/') c.path_prefix.pop_back();
            } else if (k == "max_request_body") {
                read_size(v, k, c.max_request_body);
            } else if (k == "connect_timeout") {
                read(v, k, c.connect_timeout);
            } else if (k == "response_timeout") {
                read(v, k, c.response_timeout);
            } else if (k == "idle_timeout") {
                read(v, k, c.idle_timeout);
            } else if (k == "stats_timeout") {
                read(v, k, c.stats_timeout);
            } else if (k == "health_interval") {
                read(v, k, c.health_interval);
            } else if (k == "eject_duration") {
                read(v, k, c.eject_duration);
            } else if (k == "mpp_endpoints") {
                read(v, k, c.mpp_endpoints);
            } else if (k == "max_request_headers") {
                int n = static_cast<int>(c.max_request_headers);
                read(v, k, n, 1, 100000);
                c.max_request_headers = static_cast<size_t>(n);
            } else if (k == "max_response_header") {
                read_size(v, k, c.max_response_header);
            } else if (k == "retry_on") {
                retry_on(v, k, c.retry_on);
            } else {
                error(pos_of(key.source()),
                      "unknown key \"" + k + "\" in [[proxy]] (see docs/configuration.md for the proxy's keys)");
            }
        }
        if (!t.contains("listen")) error(p.where, "[[proxy]] \"" + p.name + "\" needs listen = \"host:port\"");
        if (!t.contains("backends")) error(p.where, "[[proxy]] \"" + p.name + "\" needs backends = [\"<discovery name>\", ...]");
        if (!t.contains("strategy")) error(p.where, "[[proxy]] \"" + p.name + "\" needs a strategy = { plugin = ..., name = ... }");
        p.proxy = std::move(c);
    }

    // [[sharding]]: configs and targets spread over a fleet by a ring in the KV store.
    void sharding(const toml::table& t, PipelineConfig& p) {
        ShardingConfig c;
        c.prefix = "herd/sharding/" + p.name + "/";
        auto strings = [&](const toml::node& v, const std::string& k, std::vector<std::string>& out, bool discovery) {
            if (!expect(v, toml::node_type::array, k, "an array of strings")) return;
            auto& a = *v.as_array();
            for (size_t i = 0; i < a.size(); ++i) {
                std::string s;
                if (!read(*a.get(i), k + "[" + std::to_string(i) + "]", s)) continue;
                if (discovery) p.discovery_refs.emplace_back(k + "[" + std::to_string(i) + "]", s);
                out.push_back(s);
            }
        };
        for (auto&& [key, v] : t) {
            const std::string k(key.str());
            if (k == "name" || k == "sink") {
                if (k == "sink") read(v, k, c.sink);
            } else if (k == "kv") {
                read(v, k, c.kv);
            } else if (k == "prefix") {
                if (read(v, k, c.prefix) && (c.prefix.empty() || c.prefix.back() != '/'))
                    error(pos_of(v.source()), "\"prefix\" must end with '/', e.g. \"herd/sharding/scrape/\"");
            } else if (k == "member_id") {
                if (read(v, k, c.member_id) && !valid_instance_name(c.member_id))
                    error(pos_of(v.source()), "\"member_id\": letters, digits, '_', '-', '.'");
            } else if (k == "advertise") {
                if (read(v, k, c.advertise)) try {
                        util::split_host_port(c.advertise);
                    } catch (const std::exception& e) {
                        error(pos_of(v.source()), std::string("\"advertise\": ") + e.what());
                    }
            } else if (k == "tokens") {
                read(v, k, c.tokens, 1, 65536);
            } else if (k == "heartbeat") {
                read(v, k, c.heartbeat);
            } else if (k == "heartbeat_timeout") {
                read(v, k, c.heartbeat_timeout);
            } else if (k == "reshard_interval") {
                read(v, k, c.reshard_interval);
            } else if (k == "handoff_timeout") {
                read(v, k, c.handoff_timeout);
            } else if (k == "configs") {
                read(v, k, c.configs);
            } else if (k == "targets") {
                strings(v, k, c.targets, true);
            } else if (k == "target_key") {
                strings(v, k, c.target_key, false);
            } else if (k == "keep_on_leave") {
                read(v, k, c.keep_on_leave);
            } else if (k == "max_config_size") {
                read_size(v, k, c.max_config_size);
            } else {
                error(pos_of(key.source()),
                      "unknown key \"" + k + "\" in [[sharding]] (see docs/configuration.md for the sharding keys)");
            }
        }
        if (!t.contains("sink")) error(p.where, "[[sharding]] \"" + p.name + "\" needs sink = \"<a [[sink]] name>\"");
        if (c.heartbeat_timeout < 2 * c.heartbeat)
            error(p.position_of("heartbeat_timeout"), "\"heartbeat_timeout\" must be at least twice \"heartbeat\" "
                                                      "(a member must be able to miss one heartbeat)");
        if (!c.configs && c.targets.empty())
            error(p.where, "[[sharding]] \"" + p.name + "\" shards nothing: set configs = true or targets = [...]");
        p.sharding = std::move(c);
    }

    // [[dispatch]]: an elected leader hands checks to node agents (the Datadog cluster-check API).
    void dispatch(const toml::table& t, PipelineConfig& p, const std::filesystem::path& base_dir) {
        DispatchConfig c;
        c.prefix = "herd/dispatch/" + p.name + "/";
        for (auto&& [key, v] : t) {
            const std::string k(key.str());
            if (k == "name") continue;
            if (k == "sink") {
                read(v, k, c.sink);
            } else if (k == "kv") {
                read(v, k, c.kv);
            } else if (k == "prefix") {
                if (read(v, k, c.prefix) && (c.prefix.empty() || c.prefix.back() != '/'))
                    error(pos_of(v.source()), "\"prefix\" must end with '/', e.g. \"herd/dispatch/checks/\"");
            } else if (k == "role") {
                std::vector<std::string> roles;
                if (v.is_string()) {
                    roles.push_back(v.as_string()->get());
                } else if (auto* a = v.as_array()) {
                    for (size_t i = 0; i < a->size(); ++i) {
                        std::string r;
                        if (read(*a->get(i), k + "[" + std::to_string(i) + "]", r)) roles.push_back(r);
                    }
                } else {
                    error(pos_of(v.source()), "\"role\" must be \"leader\", \"node\" or [\"leader\", \"node\"]");
                    continue;
                }
                c.leader = c.node = false;
                for (const auto& r : roles) {
                    if (r == "leader") c.leader = true;
                    else if (r == "node") c.node = true;
                    else error(pos_of(v.source()), "\"role\": unknown role \"" + r + "\" (\"leader\" or \"node\")");
                }
                if (roles.empty()) error(pos_of(v.source()), "\"role\" names no role (\"leader\", \"node\" or both)");
            } else if (k == "node_id") {
                if (read(v, k, c.node_id) && !valid_instance_name(c.node_id))
                    error(pos_of(v.source()), "\"node_id\": letters, digits, '_', '-', '.'");
            } else if (k == "advertise") {
                if (read(v, k, c.advertise)) try {
                        util::split_host_port(c.advertise);
                    } catch (const std::exception& e) {
                        error(pos_of(v.source()), std::string("\"advertise\": ") + e.what());
                    }
            } else if (k == "servers") {
                if (!expect(v, toml::node_type::array, k, "an array of \"host:port\" strings")) continue;
                auto& a = *v.as_array();
                for (size_t i = 0; i < a.size(); ++i) {
                    std::string s;
                    if (!read(*a.get(i), k + "[" + std::to_string(i) + "]", s)) continue;
                    try {
                        util::split_host_port(s);
                        c.servers.push_back(s);
                    } catch (const std::exception& e) {
                        error(pos_of(a.get(i)->source()), "\"" + k + "[" + std::to_string(i) + "]\": " + e.what());
                    }
                }
            } else if (k == "token") {
                read(v, k, c.token);
            } else if (k == "token_file") {
                std::string f;
                if (!read(v, k, f)) continue;
                std::filesystem::path path(f);
                if (path.is_relative()) path = base_dir / path;
                std::ifstream in(path);
                if (!in || !std::getline(in, c.token) || c.token.empty())
                    error(pos_of(v.source()), "\"token_file\": cannot read a token from " + path.string());
                while (!c.token.empty() && std::isspace(static_cast<unsigned char>(c.token.back()))) c.token.pop_back();
            } else if (k == "node_expiration") {
                read(v, k, c.node_expiration);
            } else if (k == "poll_interval") {
                read(v, k, c.poll_interval);
            } else if (k == "rebalance_period") {
                read(v, k, c.rebalance_period);
            } else if (k == "lease") {
                read(v, k, c.lease);
            } else if (k == "rebalance_min_improvement") {
                double d = -1;
                if (auto* f = v.as_floating_point()) d = f->get();
                else if (auto* i = v.as_integer()) d = static_cast<double>(i->get());
                else if (auto* s = v.as_string()) {
                    const std::string& str = s->get();
                    try {
                        size_t used = 0;
                        d = std::stod(str, &used);
                        if (str.substr(used) == "%") d /= 100;
                        else if (used != str.size()) d = -1;
                    } catch (...) {
                        d = -1;
                    }
                }
                if (d < 0 || d > 1)
                    error(pos_of(v.source()), "\"rebalance_min_improvement\" must be a fraction (0.1) or a percentage (\"10%\") "
                                              "between 0 and 100 %");
                else
                    c.rebalance_min_improvement = d;
            } else if (k == "checks") {
                if (!expect(v, toml::node_type::array, k, "an array of tables { discovery = \"...\", check_name = ..., instances = [...] }"))
                    continue;
                auto& a = *v.as_array();
                for (size_t i = 0; i < a.size(); ++i) {
                    const std::string ik = k + "[" + std::to_string(i) + "]";
                    if (!expect(*a.get(i), toml::node_type::table, ik, "a table { discovery = \"...\", ... }")) continue;
                    DispatchCheckTemplate ct;
                    const auto& tt = *a.get(i)->as_table();
                    for (auto&& [tk, tv] : tt) {
                        const std::string n(tk.str());
                        const std::string path = ik + "." + n;
                        if (n == "discovery") {
                            if (read(tv, path, ct.discovery)) p.discovery_refs.emplace_back(path, ct.discovery);
                        } else if (n == "annotations") {
                            read(tv, path, ct.annotations);
                        } else if (n == "check_name") {
                            read(tv, path, ct.check_name);
                        } else if (n == "init_config") {
                            if (expect(tv, toml::node_type::table, path, "a table")) ct.init_config = to_json(tv);
                        } else if (n == "instances") {
                            if (expect(tv, toml::node_type::array, path, "an array of tables")) ct.instances = to_json(tv);
                        } else {
                            error(pos_of(tk.source()), "unknown key \"" + n + "\" in " + ik +
                                                           " (discovery, check_name, init_config, instances, annotations)");
                        }
                    }
                    if (ct.discovery.empty()) error(pos_of(tt.source()), ik + " needs discovery = \"<a [[discovery]] name>\"");
                    if (!ct.annotations && (ct.check_name.empty() || ct.instances.empty()))
                        error(pos_of(tt.source()), ik + " needs check_name and instances (or annotations = true)");
                    if (ct.annotations && (!ct.check_name.empty() || !ct.instances.empty()))
                        error(pos_of(tt.source()), ik + ": annotations = true takes the checks from the Services' annotations; "
                                                        "drop check_name and instances");
                    c.checks.push_back(std::move(ct));
                }
            } else if (k == "sink_format") {
                if (read(v, k, c.sink_format) && c.sink_format != "conf.d" && c.sink_format != "scrape_config")
                    error(pos_of(v.source()), "\"sink_format\" is \"conf.d\" (check files) or \"scrape_config\" (Prometheus jobs)");
            } else if (k == "max_check_size") {
                read_size(v, k, c.max_check_size);
            } else if (k == "datadog_paths") {
                read(v, k, c.datadog_paths);
            } else {
                error(pos_of(key.source()),
                      "unknown key \"" + k + "\" in [[dispatch]] (see docs/configuration.md for the dispatch keys)");
            }
        }
        if (c.node && c.sink.empty())
            error(p.where, "[[dispatch]] \"" + p.name + "\" has role \"node\" and needs sink = \"<a [[sink]] name>\"");
        if (!c.node && !c.sink.empty())
            error(p.position_of("sink"), "[[dispatch]] \"" + p.name + "\": sink is for role \"node\" (this one is only \"leader\")");
        if (c.node_expiration < 2 * c.poll_interval)
            error(p.position_of("node_expiration"), "\"node_expiration\" must be at least twice \"poll_interval\" "
                                                    "(a node must be able to miss one poll)");
        if (c.node && !c.leader && c.servers.empty())
            error(p.where, "[[dispatch]] \"" + p.name + "\" is only a node and needs servers = [\"host:port\", ...] to poll");
        p.dispatch = std::move(c);
    }

    // retry_on = ["connect", "reset", "timeout", "502", "503", "504"]; [] never retries.
    void retry_on(const toml::node& v, const std::string& k, RetryOn& out) {
        if (!expect(v, toml::node_type::array, k, "an array such as [\"connect\", \"reset\", \"502\", \"504\"]")) return;
        RetryOn r{false, false, false, {}};
        auto& a = *v.as_array();
        for (size_t i = 0; i < a.size(); ++i) {
            std::string s;
            if (!read(*a.get(i), k + "[" + std::to_string(i) + "]", s)) return;
            if (s == "connect") r.connect = true;
            else if (s == "reset") r.reset = true;
            else if (s == "timeout") r.timeout = true;
            else if (s.size() == 3 && s[0] == '5' && std::isdigit(static_cast<unsigned char>(s[1])) &&
                     std::isdigit(static_cast<unsigned char>(s[2])))
                r.statuses.push_back(std::stoi(s));
            else {
                error(pos_of(a.get(i)->source()), "\"" + k + "\": unknown condition \"" + s +
                                                      "\" (connect, reset, timeout, or a 5xx status such as \"502\")");
                return;
            }
        }
        out = std::move(r);
    }

    // { plugin = "...", name = "..." [, interval = "10s" for a strategy] [, plugin keys...] }
    // mpp's "minimum-history:1h" is accepted as name "minimum-history" with history = "1h".
    void plugin_ref(const toml::table& t, herd_kind kind, const std::string& key, PipelineConfig& p, ProxyConfig* proxy) {
        PluginRef r{kind, {}, {}, key, nlohmann::json::object()};
        for (auto&& [k, v] : t) {
            const std::string name(k.str());
            if (name == "plugin" || name == "name") {
                std::string s;
                if (!read(v, key + "." + name, s)) return;
                (name == "plugin" ? r.plugin : r.factory) = s;
            } else if (name == "interval" && proxy) {
                read(v, key + ".interval", proxy->interval);
            } else {
                r.settings[name] = to_json(v);
            }
        }
        for (const char* field : {"plugin", "name"})
            if (!t.contains(field)) {
                error(pos_of(t.source()), key + " needs " + field + " = \"...\"");
                return;
            }
        if (auto colon = r.factory.find(':'); colon != std::string::npos) {
            if (!r.settings.contains("history")) r.settings["history"] = r.factory.substr(colon + 1);
            r.factory.resize(colon);
        }
        p.plugin_refs.push_back(std::move(r));
    }

    void pipelines(const std::string& section, const toml::node& node, Config& cfg) {
        for (const toml::table* table : tables_of(section, node)) {
            const auto& t = *table;
            PipelineConfig p;
            p.kind = section;
            p.where = pos_of(t.source());
            p.table = std::shared_ptr<const toml::table>(root_, &t);
            auto* name = t.get("name");
            if (!name || !name->is_string() || !valid_instance_name(name->as_string()->get())) {
                error(name ? pos_of(name->source()) : p.where,
                      "[[" + section + "]] needs name = \"...\" (letters, digits, '_', '-', '.')");
                continue;
            }
            p.name = name->as_string()->get();
            for (const auto& other : cfg.pipelines)
                if (other.kind == section && other.name == p.name)
                    error(pos_of(name->source()), "duplicate " + section + " name \"" + p.name + "\" (first defined at line " +
                                                      std::to_string(other.where.line) + ")");
            if (section == "proxy") proxy(t, p);
            if (section == "sharding") sharding(t, p);
            if (section == "dispatch") dispatch(t, p, cfg.base_dir);
            // Sharding and dispatch end in a sink; its reference is checked here for every kind.
            if (section != "proxy")
                if (auto* sink = t.get("sink")) {
                    std::string ref;
                    if (read(*sink, "sink", ref)) p.sink_refs.emplace_back("sink", ref);
                }
            cfg.pipelines.push_back(std::move(p));
        }
    }

    // Names a pipeline uses must be defined somewhere in the file.
    void check_references(const Config& cfg) {
        std::string defined;
        for (const auto& i : cfg.instances)
            if (i.kind == HERD_KIND_DISCOVERY) defined += (defined.empty() ? "" : ", ") + i.name;
        for (const auto& p : cfg.pipelines)
            for (const auto& [key, ref] : p.discovery_refs)
                if (!cfg.find(HERD_KIND_DISCOVERY, ref))
                    error(p.position_of(key), p.kind + " \"" + p.name + "\": " + key + " names no [[discovery]] \"" + ref +
                                                  "\" (defined: " + (defined.empty() ? "none" : defined) + ")");
        // A sink applies "exactly this set": it can belong to one pipeline only.
        std::string sinks;
        for (const auto& i : cfg.instances)
            if (i.kind == HERD_KIND_SINK) sinks += (sinks.empty() ? "" : ", ") + i.name;
        // In file order (toml++ keeps tables by name): the first pipeline to name a sink owns it.
        std::vector<std::tuple<Position, const PipelineConfig*, std::string, std::string>> refs;
        for (const auto& p : cfg.pipelines)
            for (const auto& [key, ref] : p.sink_refs) refs.emplace_back(p.position_of(key), &p, key, ref);
        std::sort(refs.begin(), refs.end(), [](const auto& a, const auto& b) {
            return std::pair(std::get<0>(a).line, std::get<0>(a).column) < std::pair(std::get<0>(b).line, std::get<0>(b).column);
        });
        std::map<std::string, const PipelineConfig*> owner;
        for (const auto& [at, pp, key, ref] : refs) {
            const PipelineConfig& p = *pp;
            {
                if (!cfg.find(HERD_KIND_SINK, ref)) {
                    error(p.position_of(key), p.kind + " \"" + p.name + "\": " + key + " names no [[sink]] \"" + ref +
                                                  "\" (defined: " + (sinks.empty() ? "none" : sinks) + ")");
                    continue;
                }
                auto [it, fresh] = owner.emplace(ref, &p);
                if (!fresh)
                    error(p.position_of(key), p.kind + " \"" + p.name + "\": sink \"" + ref + "\" already belongs to " +
                                                  it->second->kind + " \"" + it->second->name + "\" (line " +
                                                  std::to_string(it->second->position_of(key).line) +
                                                  "): a sink holds exactly one pipeline's set; define another [[sink]]");
            }
        }
    }

    std::string file_;
    fs::path base_;
    fs::path default_plugin_dir_;
    std::shared_ptr<toml::table> root_;
    Diagnostics errors_;
};

}  // namespace

Position position_in(const toml::table* table, Position where, std::string_view key_path);

std::optional<InstanceConfig> Config::default_kv(std::string* why) const {
    std::vector<const InstanceConfig*> kvs;
    for (const auto& i : instances)
        if (i.kind == HERD_KIND_KV) kvs.push_back(&i);
    if (kvs.size() == 1) return *kvs.front();
    if (kvs.empty()) {
        InstanceConfig ic;
        ic.kind = HERD_KIND_KV;
        ic.section = "kv";
        ic.name = "default";
        ic.plugin = "kv_sqlite";
        ic.settings = nlohmann::json::object();
        ic.where = {1, 1};
        return ic;
    }
    std::string names;
    for (const auto* i : kvs) names += (names.empty() ? "" : ", ") + i->name;
    if (why) *why = file + " defines several [[kv]] (" + names + "): name one";
    return std::nullopt;
}

Position InstanceConfig::position_of(std::string_view key_path) const {
    return position_in(table.get(), where, key_path);
}

Position PipelineConfig::position_of(std::string_view key_path) const {
    return position_in(table.get(), where, key_path);
}

Position position_in(const toml::table* table, Position where, std::string_view key_path) {
    if (!table || key_path.empty()) return where;
    const toml::node* n = table;
    Position best = where;
    size_t i = 0;
    while (i < key_path.size() && n) {
        if (key_path[i] == '.') ++i;
        if (key_path[i] == '[') {
            size_t close = key_path.find(']', i);
            if (close == std::string_view::npos) break;
            size_t idx = std::stoul(std::string(key_path.substr(i + 1, close - i - 1)));
            auto* a = n->as_array();
            n = (a && idx < a->size()) ? a->get(idx) : nullptr;
            i = close + 1;
        } else {
            size_t end = key_path.find_first_of(".[", i);
            if (end == std::string_view::npos) end = key_path.size();
            auto* t = n->as_table();
            std::string_view seg = key_path.substr(i, end - i);
            if (!t) break;
            // Point at the key itself: that is what the user wrote wrongly (or must fix the value of).
            auto it = t->find(seg);
            if (it == t->end()) break;
            best = pos_of(it->first.source());
            n = &it->second;
            i = end;
            continue;
        }
        if (n) best = pos_of(n->source());
    }
    return best;
}

std::string InstanceConfig::fingerprint() const { return plugin + "\n" + factory + "\n" + settings.dump(); }

std::shared_ptr<const toml::table> PipelineConfig::subtable(std::string_view key_path) const {
    if (!table) return nullptr;
    const toml::node* n = table.get();
    std::string_view rest = key_path;
    while (n && !rest.empty()) {
        if (rest.front() == '.') rest.remove_prefix(1);
        if (rest.front() == '[') {
            size_t close = rest.find(']');
            auto* a = n->as_array();
            size_t idx = std::stoul(std::string(rest.substr(1, close - 1)));
            n = (a && idx < a->size()) ? a->get(idx) : nullptr;
            rest.remove_prefix(close + 1);
        } else {
            size_t end = rest.find_first_of(".[");
            if (end == std::string_view::npos) end = rest.size();
            auto* t = n->as_table();
            n = t ? t->get(rest.substr(0, end)) : nullptr;
            rest.remove_prefix(end);
        }
    }
    if (!n || !n->as_table()) return nullptr;
    return std::shared_ptr<const toml::table>(table, n->as_table());
}

std::string PipelineConfig::fingerprint() const { return kind + "\n" + to_json(*table).dump(); }

const InstanceConfig* Config::find(herd_kind kind, const std::string& name) const {
    for (const auto& i : instances)
        if (i.kind == kind && i.name == name) return &i;
    return nullptr;
}

LoadResult load_text(std::string_view text, const std::string& file_name, const fs::path& base_dir,
                     const fs::path& default_plugin_dir) {
    return Loader(file_name, base_dir, default_plugin_dir).run(text);
}

LoadResult load_file(const fs::path& file, const fs::path& default_plugin_dir) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        LoadResult r;
        r.errors.push_back({file.string(), {}, "cannot read the configuration file: " + std::string(std::strerror(errno))});
        return r;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    auto base = fs::absolute(file).parent_path();
    return load_text(ss.str(), file.string(), base, default_plugin_dir);
}

std::string HostConfig::plugin_dirs_text() const {
    std::string out;
    for (const auto& d : plugin_dirs) out += (out.empty() ? "" : ", ") + d.string();
    return out.empty() ? plugin_dir.string() : out;
}

std::optional<InstanceConfig> Config::pipeline_kv(const PipelineConfig& pc, const std::string& kv, Diagnostic* error) const {
    if (!kv.empty()) {
        if (const auto* k = find(HERD_KIND_KV, kv)) return *k;
        *error = {file, pc.position_of("kv"), pc.kind + " \"" + pc.name + "\": no [[kv]] named \"" + kv + "\""};
        return std::nullopt;
    }
    std::string why;
    auto k = default_kv(&why);
    if (!k) *error = {file, pc.where, pc.kind + " \"" + pc.name + "\": " + why + " with kv = \"...\""};
    return k;
}

}  // namespace herd::config

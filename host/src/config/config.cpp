#include "config/config.hpp"

#include "util/host_port.hpp"

#include <herd/sdk/duration.hpp>

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

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
        toml::table root;
        try {
            root = toml::parse(text, file_);
        } catch (const toml::parse_error& e) {
            out.errors.push_back({file_, pos_of(e.source()), std::string(e.description())});
            return out;
        }
        Config cfg;
        cfg.file = file_;
        cfg.base_dir = base_;
        cfg.host.plugin_dir = default_plugin_dir_;
        cfg.host.data_dir = "/var/lib/herd";

        for (auto&& [key, node] : root) {
            const std::string k(key.str());
            if (k == "host") {
                host(node, cfg.host);
            } else if (k == "kv" || k == "discovery") {
                instances(k, node, cfg);
            } else if (k == "proxy" || k == "sharding" || k == "dispatch") {
                error(pos_of(key.source()), "[[" + k + "]] pipelines are not part of this herd release yet; "
                                            "this build runs plugins, discovery and the admin API");
            } else {
                error(pos_of(key.source()),
                      "unknown key \"" + k + "\" (expected [host], [[kv]], [[discovery]], [[proxy]], [[sharding]], [[dispatch]])");
            }
        }
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
            if (k == "plugin_dir" || k == "data_dir") {
                if (expect(v, toml::node_type::string, k, "a string")) (k == "plugin_dir" ? h.plugin_dir : h.data_dir) = path(v);
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
            } else if (k == "drain_timeout") {
                if (expect(v, toml::node_type::string, k, "a duration string like \"10s\"")) {
                    auto d = sdk::parse_duration(v.as_string()->get());
                    if (!d) error(pos_of(v.source()), "\"drain_timeout\" is not a duration (e.g. \"10s\")");
                    else h.drain_timeout = *d;
                }
            } else {
                error(pos_of(key.source()), "unknown key \"" + k + "\" in [host] (expected plugin_dir, data_dir, admin, log_level, drain_timeout)");
            }
        }
    }

    void instances(const std::string& section, const toml::node& node, Config& cfg) {
        const herd_kind kind = section == "kv" ? HERD_KIND_KV : HERD_KIND_DISCOVERY;
        if (!node.is_array_of_tables()) {
            error(pos_of(node.source()), "\"" + section + "\" must be an array of tables: write [[" + section + "]]");
            return;
        }
        for (auto&& item : *node.as_array()) {
            const auto& t = *item.as_table();
            InstanceConfig ic;
            ic.kind = kind;
            ic.section = section;
            ic.where = pos_of(t.source());
            ic.table = std::make_shared<toml::table>(t);
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

    std::string file_;
    fs::path base_;
    fs::path default_plugin_dir_;
    Diagnostics errors_;
};

}  // namespace

Position InstanceConfig::position_of(std::string_view key_path) const {
    if (!table || key_path.empty()) return where;
    const toml::node* n = table.get();
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

}  // namespace herd::config

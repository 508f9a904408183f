// Strict reading of an instance's configuration (JSON text from the host) with nlohmann_json.
// Every key read is remembered; finish() refuses the keys nobody read, naming them, so a typo in
// the user's TOML is an error at file:line:col rather than a silently ignored setting.
#pragma once

#include <herd/sdk/duration.hpp>
#include <herd/sdk/error.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace herd::sdk {

class JsonConfig {
public:
    explicit JsonConfig(std::string_view json) {
        try {
            doc_ = nlohmann::json::parse(json.begin(), json.end());
        } catch (const nlohmann::json::exception& e) {
            throw ConfigError("", std::string("configuration is not valid JSON: ") + e.what());
        }
        if (!doc_.is_object()) throw ConfigError("", "configuration must be a table");
    }

    bool has(const std::string& key) const { return doc_.contains(key); }
    const nlohmann::json& raw() const { return doc_; }

    std::optional<std::string> string(const std::string& key) {
        const auto* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_string()) throw ConfigError(key, "must be a string");
        return v->get<std::string>();
    }
    std::string string(const std::string& key, std::string fallback) {
        return string(key).value_or(std::move(fallback));
    }
    std::optional<int64_t> integer(const std::string& key) {
        const auto* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_number_integer()) throw ConfigError(key, "must be an integer");
        return v->get<int64_t>();
    }
    std::optional<double> number(const std::string& key) {
        const auto* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_number()) throw ConfigError(key, "must be a number");
        return v->get<double>();
    }
    std::optional<bool> boolean(const std::string& key) {
        const auto* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_boolean()) throw ConfigError(key, "must be true or false");
        return v->get<bool>();
    }
    std::optional<std::vector<std::string>> strings(const std::string& key) {
        const auto* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_array()) throw ConfigError(key, "must be an array of strings");
        std::vector<std::string> out;
        for (size_t i = 0; i < v->size(); ++i) {
            if (!(*v)[i].is_string())
                throw ConfigError(key + "[" + std::to_string(i) + "]", "must be a string");
            out.push_back((*v)[i].get<std::string>());
        }
        return out;
    }
    // Any value, as JSON, for keys that take several types (a port by name or number).
    std::optional<nlohmann::json> value(const std::string& key) {
        const auto* v = find(key);
        if (!v) return std::nullopt;
        return *v;
    }
    // A nested table, as JSON, for the plugin to walk itself.
    std::optional<nlohmann::json> table(const std::string& key) {
        const auto* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_object()) throw ConfigError(key, "must be a table");
        return *v;
    }
    // "10s", "1m30s"... (Prometheus syntax).
    std::optional<std::chrono::milliseconds> duration(const std::string& key) {
        auto s = string(key);
        if (!s) return std::nullopt;
        auto d = parse_duration(*s);
        if (!d) throw ConfigError(key, "\"" + *s + "\" is not a duration (use e.g. \"500ms\", \"10s\", \"1m30s\")");
        return d;
    }

    // Throws for the first key that was never read.
    void finish() const {
        for (auto it = doc_.begin(); it != doc_.end(); ++it)
            if (!read_.count(it.key())) throw ConfigError(it.key(), "unknown key \"" + it.key() + "\"");
    }

private:
    const nlohmann::json* find(const std::string& key) {
        read_.insert(key);
        auto it = doc_.find(key);
        return it == doc_.end() ? nullptr : &*it;
    }

    nlohmann::json doc_;
    std::set<std::string> read_;
};

}  // namespace herd::sdk

#include "dispatch/check.hpp"

#include <herd/sdk/sink_support.hpp>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <regex>

namespace herd::dispatch {

namespace {

nlohmann::json scalar_to_json(const YAML::Node& n) {
    const std::string& s = n.Scalar();
    if (n.Tag() == "!") return s;  // quoted: a string whatever it looks like
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    static const std::regex integer(R"([-+]?[0-9]+)"), number(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
    if (std::regex_match(s, integer)) try {
            return std::stoll(s);
        } catch (...) {
        }
    if (std::regex_match(s, number)) try {
            return std::stod(s);
        } catch (...) {
        }
    return s;
}

nlohmann::json to_json(const YAML::Node& n) {
    switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
        return nullptr;
    case YAML::NodeType::Scalar:
        return scalar_to_json(n);
    case YAML::NodeType::Sequence: {
        auto a = nlohmann::json::array();
        for (const auto& e : n) a.push_back(to_json(e));
        return a;
    }
    case YAML::NodeType::Map: {
        auto o = nlohmann::json::object();
        for (const auto& kv : n) {
            const std::string key = kv.first.Scalar();
            if (o.contains(key)) throw std::runtime_error("duplicate key \"" + key + "\"");
            o[key] = to_json(kv.second);
        }
        return o;
    }
    }
    return nullptr;
}

void emit(YAML::Emitter& out, const nlohmann::json& j) {
    if (j.is_object()) {
        if (j.empty()) {
            out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
            return;
        }
        out << YAML::BeginMap;
        for (const auto& [k, v] : j.items()) {
            out << YAML::Key << k << YAML::Value;
            emit(out, v);
        }
        out << YAML::EndMap;
    } else if (j.is_array()) {
        if (j.empty()) {
            out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
            return;
        }
        out << YAML::BeginSeq;
        for (const auto& v : j) emit(out, v);
        out << YAML::EndSeq;
    } else if (j.is_string()) {
        out << YAML::DoubleQuoted << j.get<std::string>();
    } else if (j.is_null()) {
        out << YAML::Null;
    } else if (j.is_boolean()) {
        out << (j.get<bool>() ? "true" : "false");
    } else {
        out << j.dump();
    }
}

// Block YAML for a JSON value: one spelling per value, so equal checks have equal text.
std::string to_yaml(const nlohmann::json& j) {
    YAML::Emitter out;
    emit(out, j);
    return std::string(out.c_str()) + "\n";
}

std::string field(const std::string& k) { return "\"" + k + "\""; }

}  // namespace

nlohmann::json yaml_text_to_json(const std::string& yaml) { return to_json(YAML::Load(yaml)); }

std::string Check::digest() const {
    std::string all = check_name + '\0';
    for (const auto& i : instances) all += i + '\0';
    all += init_config + '\0' + service_id;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(sdk::fingerprint(all)));
    return hex;  // unpadded hex, as Datadog writes its digests
}

std::string check_id_error(std::string_view id) {
    if (id.empty()) return "a check id cannot be empty";
    if (id.size() > 200) return "a check id has at most 200 characters";
    if (id.front() == '.') return "a check id cannot start with '.'";
    for (unsigned char c : id)
        if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-'))
            return "a check id has letters, digits, '.', '_' and '-' only";
    return {};
}

std::optional<Check> parse_check(std::string_view body, const std::string& id, std::string* error) {
    auto fail = [&](std::string why) -> std::optional<Check> {
        *error = std::move(why);
        return std::nullopt;
    };
    if (auto why = check_id_error(id); !why.empty()) return fail(why + " (\"" + id + "\")");
    nlohmann::json doc;
    try {
        doc = to_json(YAML::Load(std::string(body)));
    } catch (const YAML::Exception& e) {
        return fail("the body is neither YAML nor JSON: line " + std::to_string(e.mark.line + 1) + ", column " +
                    std::to_string(e.mark.column + 1) + ": " + e.msg);
    } catch (const std::exception& e) {
        return fail(std::string("the body: ") + e.what());
    }
    if (!doc.is_object()) return fail("the body must be a mapping with check_name, init_config and instances");
    Check c;
    c.id = id;
    for (const auto& [k, v] : doc.items()) {
        if (k == "check_name") {
            if (!v.is_string() || v.get<std::string>().empty()) return fail(field(k) + " must be a non-empty string");
            c.check_name = v.get<std::string>();
            if (auto why = sdk::check_item_name(c.check_name + ".d/x"); !why.empty())
                return fail(field(k) + " \"" + c.check_name + "\" cannot name a conf.d directory: " + why);
        } else if (k == "init_config") {
            if (!v.is_null() && !v.is_object()) return fail(field(k) + " must be a mapping (or null)");
            c.init_config = to_yaml(v.is_null() ? nlohmann::json::object() : v);
        } else if (k == "instances") {
            if (!v.is_array() || v.empty()) return fail(field(k) + " must be a list of at least one mapping");
            for (size_t i = 0; i < v.size(); ++i) {
                if (!v[i].is_object()) return fail("\"instances[" + std::to_string(i) + "]\" must be a mapping");
                c.instances.push_back(to_yaml(v[i]));
            }
        } else if (k == "cluster_check" || k == "ad_identifiers") {
            // A Datadog cluster-check file may carry these; dispatch makes every check a cluster check.
        } else {
            return fail("unknown field " + field(k) + " (a check has check_name, init_config and instances)");
        }
    }
    if (c.check_name.empty()) return fail("\"check_name\" is missing");
    if (c.instances.empty()) return fail("\"instances\" is missing");
    return c;
}

std::string to_record(const Check& c) {
    nlohmann::ordered_json j{{"check_name", c.check_name}, {"init_config", c.init_config},
                             {"instances", c.instances}, {"source", c.source}};
    if (!c.service_id.empty()) j["service_id"] = c.service_id;
    return j.dump();
}

std::optional<Check> from_record(const std::string& id, std::string_view record) {
    try {
        auto j = nlohmann::json::parse(record);
        Check c;
        c.id = id;
        c.check_name = j.at("check_name").get<std::string>();
        c.init_config = j.at("init_config").get<std::string>();
        c.instances = j.at("instances").get<std::vector<std::string>>();
        c.source = j.value("source", "api");
        c.service_id = j.value("service_id", "");
        return c;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

nlohmann::ordered_json to_api_json(const Check& c) {
    nlohmann::ordered_json j{{"id", c.id}, {"check_name", c.check_name}};
    j["init_config"] = nlohmann::ordered_json::parse(yaml_text_to_json(c.init_config).dump());
    auto inst = nlohmann::ordered_json::array();
    for (const auto& i : c.instances) inst.push_back(nlohmann::ordered_json::parse(yaml_text_to_json(i).dump()));
    j["instances"] = inst;
    j["source"] = c.source;
    j["digest"] = c.digest();
    return j;
}

std::string conf_d_yaml(const Check& c) {
    // The same text a user would write: init_config, then the instances, as one document.
    nlohmann::json j{{"init_config", yaml_text_to_json(c.init_config)}};
    auto inst = nlohmann::json::array();
    for (const auto& i : c.instances) inst.push_back(yaml_text_to_json(i));
    j["instances"] = inst;
    return "# written by herd (dispatch): check " + c.id + "\n" + to_yaml(j);
}

nlohmann::ordered_json datadog_config(const Check& c, const std::string& node_name) {
    auto inst = nlohmann::ordered_json::array();
    for (const auto& i : c.instances) inst.push_back(base64_encode(i));
    // integration.Config's fields in its declaration order, as encoding/json writes them.
    return nlohmann::ordered_json{{"check_name", c.check_name},
                                  {"instances", inst},
                                  {"init_config", base64_encode(c.init_config)},
                                  {"metric_config", nullptr},
                                  {"logs", nullptr},
                                  {"ad_identifiers", nullptr},
                                  {"advanced_ad_identifiers", nullptr},
                                  {"provider", "herd"},
                                  {"service_id", c.service_id},
                                  {"cluster_check", true},
                                  {"node_name", node_name},
                                  {"source", "herd:" + c.id},
                                  {"ignore_autodiscovery_tags", false},
                                  {"check_tag_cardinality", ""},
                                  {"metrics_excluded", false},
                                  {"logs_excluded", false}};
}

std::optional<Check> from_datadog_config(const nlohmann::json& j, std::string* error) {
    try {
        Check c;
        c.check_name = j.at("check_name").get<std::string>();
        auto source = j.value("source", "");
        c.id = source.rfind("herd:", 0) == 0 ? source.substr(5) : std::string();
        c.service_id = j.value("service_id", "");
        if (j.contains("init_config") && j["init_config"].is_string()) {
            auto d = base64_decode(j["init_config"].get<std::string>());
            if (!d) throw std::runtime_error("init_config is not base64");
            c.init_config = *d;
        }
        for (const auto& i : j.at("instances")) {
            auto d = base64_decode(i.get<std::string>());
            if (!d) throw std::runtime_error("an instance is not base64");
            c.instances.push_back(*d);
        }
        if (c.id.empty() || !check_id_error(c.id).empty()) c.id = c.check_name + "-" + c.digest();
        return c;
    } catch (const std::exception& e) {
        *error = std::string("a config in the answer: ") + e.what();
        return std::nullopt;
    }
}

std::string go_json(const nlohmann::ordered_json& j) {
    std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '<') out += "\\u003c";
        else if (c == '>') out += "\\u003e";
        else if (c == '&') out += "\\u0026";
        else out.push_back(c);
    }
    return out;
}

// OpenSSL's base64 (the standard alphabet with padding, as Go's encoding/json writes []byte).
std::string base64_encode(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
    if (in.size() % 4) return std::nullopt;
    std::string out(3 * (in.size() / 4), '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts the padding as zero bytes: drop one per '='.
    size_t pad = 0;
    for (size_t i = in.size(); i > 0 && in[i - 1] == '=' && pad < 2; --i) ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

}  // namespace herd::dispatch

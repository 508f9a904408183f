#include "file_sd_parser.hpp"

#include <yaml-cpp/yaml.h>

#include <map>
#include <stdexcept>

namespace herd::sd_file {

using nlohmann::json;

bool valid_label_name(std::string_view n, NameScheme scheme) {
    if (n.empty()) return false;
    if (scheme == NameScheme::utf8) return valid_utf8(n);
    for (size_t i = 0; i < n.size(); ++i) {
        char c = n[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t n = 0;  // continuation bytes that must follow
        if (c >= 0x80) {
            if ((c & 0xE0) == 0xC0) n = 1;
            else if ((c & 0xF0) == 0xE0) n = 2;
            else if ((c & 0xF8) == 0xF0) n = 3;
            else return false;
            if (i + n >= s.size()) return false;
            for (size_t k = 1; k <= n; ++k)
                if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        }
        i += n + 1;
    }
    return true;
}

bool valid_address(std::string_view a) {
    if (a.empty() || a.find_first_of(" \t/\"'") != std::string_view::npos) return false;
    size_t colon = a.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) return false;
    if (a.front() == '[' && a[colon - 1] != ']') return false;
    for (size_t i = colon + 1; i < a.size(); ++i)
        if (a[i] < '0' || a[i] > '9') return false;
    return std::stoul(std::string(a.substr(colon + 1))) <= 65535;
}

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw std::runtime_error(path + ": " + what); }

void check_label(const std::string& path, const std::string& where, const std::string& name, const std::string& value,
                 NameScheme scheme) {
    if (!valid_label_name(name, scheme))
        fail(path, where + ": \"" + name + "\" is not a valid label name" +
                       (scheme == NameScheme::legacy ? " ([a-zA-Z_][a-zA-Z0-9_]*: name_validation_scheme = \"legacy\")" : ""));
    if (!valid_utf8(value)) fail(path, where + ": the value of \"" + name + "\" is not valid UTF-8");
}

json group(const std::string& source, const std::vector<std::string>& targets, const Labels& labels) {
    json g{{"source", source}, {"targets", json::array()}, {"labels", labels}};
    for (const auto& t : targets) g["targets"].push_back({{"__address__", t}});
    return g;
}

json parse_json_groups(const std::string& path, std::string_view content, NameScheme scheme) {
    json doc;
    try {
        doc = json::parse(content.begin(), content.end());
    } catch (const json::parse_error& e) {
        fail(path, std::string("invalid JSON: ") + e.what());
    }
    if (!doc.is_array()) fail(path, "must be a JSON list of target groups");
    json out = json::array();
    for (size_t i = 0; i < doc.size(); ++i) {
        const auto& item = doc[i];
        const std::string where = "group " + std::to_string(i);
        if (item.is_null()) fail(path, "nil target group item found (" + where + ")");
        if (!item.is_object()) fail(path, where + " is not an object");
        std::vector<std::string> targets;
        Labels labels;
        for (auto it = item.begin(); it != item.end(); ++it) {
            if (it.key() == "targets") {
                if (it->is_null()) continue;
                if (!it->is_array()) fail(path, where + ": \"targets\" must be a list of strings");
                for (const auto& t : *it) {
                    if (!t.is_string()) fail(path, where + ": every target must be a string");
                    targets.push_back(t.get<std::string>());
                }
            } else if (it.key() == "labels") {
                if (it->is_null()) continue;
                if (!it->is_object()) fail(path, where + ": \"labels\" must be an object");
                for (auto l = it->begin(); l != it->end(); ++l) {
                    if (!l->is_string()) fail(path, where + ": label \"" + l.key() + "\" must be a string");
                    check_label(path, where, l.key(), l->get<std::string>(), scheme);
                    labels[l.key()] = l->get<std::string>();
                }
            } else {
                fail(path, where + ": unknown field \"" + it.key() + "\" (only \"targets\" and \"labels\")");
            }
        }
        labels["__meta_filepath"] = path;
        out.push_back(group(path + ":" + std::to_string(i), targets, labels));
    }
    return out;
}

std::string scalar(const std::string& path, const std::string& where, const YAML::Node& n) {
    if (!n.IsScalar()) fail(path, where + " must be a string");
    return n.Scalar();
}

// As go-yaml's UnmarshalStrict: a mapping that has a key twice is an error (yaml-cpp keeps one).
void no_duplicate_keys(const std::string& path, const std::string& where, const YAML::Node& map) {
    std::map<std::string, int> seen;  // key -> line
    for (const auto& kv : map) {
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
        const int line = kv.first.Mark().line + 1;
        if (auto [it, fresh] = seen.emplace(key, line); !fresh)
            fail(path, where + ": line " + std::to_string(line) + ": key \"" + key + "\" already set in map (line " +
                           std::to_string(it->second) + ")");
    }
}

json parse_yaml_groups(const std::string& path, std::string_view content, NameScheme scheme) {
    YAML::Node doc;
    try {
        doc = YAML::Load(std::string(content));
    } catch (const YAML::Exception& e) {
        fail(path, "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    json out = json::array();
    if (doc.IsNull()) return out;  // an empty file: no groups
    if (!doc.IsSequence()) fail(path, "must be a YAML list of target groups");
    for (size_t i = 0; i < doc.size(); ++i) {
        const YAML::Node item = doc[i];
        const std::string where = "group " + std::to_string(i) + " (line " + std::to_string(item.Mark().line + 1) + ")";
        if (item.IsNull()) fail(path, "nil target group item found (" + where + ")");
        if (!item.IsMap()) fail(path, where + " is not a mapping");
        no_duplicate_keys(path, where, item);
        std::vector<std::string> targets;
        Labels labels;
        for (const auto& kv : item) {
            const std::string key = scalar(path, where, kv.first);
            if (key == "targets") {
                if (kv.second.IsNull()) continue;
                if (!kv.second.IsSequence()) fail(path, where + ": \"targets\" must be a list of strings");
                for (const auto& t : kv.second) targets.push_back(scalar(path, where + ": a target", t));
            } else if (key == "labels") {
                if (kv.second.IsNull()) continue;
                if (!kv.second.IsMap()) fail(path, where + ": \"labels\" must be a mapping");
                no_duplicate_keys(path, where + ": labels", kv.second);
                for (const auto& l : kv.second) {
                    std::string name = scalar(path, where + ": a label name", l.first);
                    std::string value = scalar(path, where + ": label \"" + name + "\"", l.second);
                    check_label(path, where, name, value, scheme);
                    labels[name] = value;
                }
            } else {
                fail(path, where + ": unknown field \"" + key + "\" (only \"targets\" and \"labels\")");
            }
        }
        labels["__meta_filepath"] = path;
        out.push_back(group(path + ":" + std::to_string(i), targets, labels));
    }
    return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string file_sd_format(std::string_view name) {
    for (const char* ext : {".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"})
        if (ends_with(name, ext) && name.size() > std::string_view(ext).size()) {
            std::string f(ext + 1);
            for (auto& ch : f) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            return f == "yaml" ? "yml" : f;
        }
    return "";
}

json parse_file_sd(const std::string& path, std::string_view content, NameScheme scheme) {
    const std::string format = file_sd_format(path);
    if (format == "json") return parse_json_groups(path, content, scheme);
    if (format == "yml") return parse_yaml_groups(path, content, scheme);
    fail(path, "unsupported file extension (file_sd files end in .json, .yml or .yaml)");
}

json parse_endpoints_file(const std::string& path, std::string_view content, const Labels& labels) {
    json g{{"source", path}, {"targets", json::array()}, {"labels", labels}};
    size_t line_no = 0, pos = 0;
    while (pos <= content.size()) {
        size_t end = content.find('\n', pos);
        if (end == std::string_view::npos) end = content.size();
        std::string_view line = content.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
        if (line.empty()) {
            if (end == content.size()) break;
            continue;
        }
        std::string scheme;
        std::string_view addr = line;
        if (auto sep = line.find("://"); sep != std::string_view::npos) {
            scheme = std::string(line.substr(0, sep));
            if (scheme != "http" && scheme != "https")
                fail(path, "line " + std::to_string(line_no) + ": scheme must be http or https, not \"" + scheme + "\"");
            addr = line.substr(sep + 3);
            if (!addr.empty() && addr.back() == '/') addr.remove_suffix(1);
        }
        if (!valid_address(addr))
            fail(path, "line " + std::to_string(line_no) + ": \"" + std::string(line) +
                           "\" is not an endpoint (write host:port or http://host:port)");
        json t{{"__address__", std::string(addr)}};
        if (!scheme.empty()) t["__scheme__"] = scheme;
        g["targets"].push_back(std::move(t));
        if (end == content.size()) break;
    }
    return g;
}

json static_group(const std::vector<std::string>& targets, const Labels& labels) {
    return group("static", targets, labels);
}

}  // namespace herd::sd_file

// Reading fields of API objects that may lack them or have the wrong type (Kubernetes, Marathon):
// a missing or mistyped field reads as empty, never throws, so a malformed object yields an
// empty target group rather than an exception in the middle of a watch.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace herd::jsonq {

inline const nlohmann::json& obj(const nlohmann::json& j, const char* key) {
    static const nlohmann::json empty = nlohmann::json::object();
    if (!j.is_object()) return empty;
    auto it = j.find(key);
    return it != j.end() && it->is_object() ? *it : empty;
}

inline const nlohmann::json& arr(const nlohmann::json& j, const char* key) {
    static const nlohmann::json empty = nlohmann::json::array();
    if (!j.is_object()) return empty;
    auto it = j.find(key);
    return it != j.end() && it->is_array() ? *it : empty;
}

inline std::string str(const nlohmann::json& j, const char* key) {
    if (!j.is_object()) return {};
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace herd::jsonq

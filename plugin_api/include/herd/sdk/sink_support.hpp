// Helpers for sink plugins (and the host, which checks the same rules before it calls one).
#pragma once

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

namespace herd::sdk {

// Item names: letters, digits, '.', '_', '-', and '/' between non-empty segments; no "." or ".."
// segment, at most 255 bytes — so a sink may use a name as a relative path. "" when valid.
inline std::string check_item_name(std::string_view name) {
    if (name.empty()) return "an item needs a name";
    if (name.size() > 255) return "item name over 255 bytes";
    size_t start = 0;
    for (;;) {
        const size_t slash = name.find('/', start);
        const auto segment = name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (segment.empty() || segment == "." || segment == "..")
            return "item name \"" + std::string(name) + "\": empty, '.' or '..' path segment";
        for (char c : segment)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
                return "item name \"" + std::string(name) + "\": only letters, digits, '.', '_', '-' and '/' are allowed";
        if (slash == std::string_view::npos) return {};
        start = slash + 1;
    }
}

// FNV-1a, 64 bits: a stable content fingerprint for manifests (not a security hash).
inline uint64_t fingerprint(std::string_view s) {
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

}  // namespace herd::sdk

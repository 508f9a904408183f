#include "cookie.hpp"

#include <strings.h>

namespace herd::affinity {

std::string cookie_value(std::string_view id) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : id) {
        h ^= c;
        h *= 1099511628211ull;
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<size_t>(i)] = hex[h & 0xf];
    return out;
}

std::optional<std::string_view> find_cookie(const herd_request& req, std::string_view name) {
    for (size_t i = 0; i < req.header_count; ++i) {
        const auto& h = req.headers[i];
        if (h.name.size != 6 || strncasecmp(h.name.data, "cookie", 6) != 0) continue;
        std::string_view v(h.value.data, h.value.size);
        // "a=1; b=2" — pairs separated by ';', optional spaces.
        while (!v.empty()) {
            size_t end = v.find(';');
            std::string_view pair = v.substr(0, end);
            while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
            size_t eq = pair.find('=');
            if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
                std::string_view value = pair.substr(eq + 1);
                while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
                if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
                return value;
            }
            if (end == std::string_view::npos) break;
            v.remove_prefix(end + 1);
        }
    }
    return std::nullopt;
}

int64_t CookieAffinity::lookup(const herd_request& req, std::span<const herd_backend* const> eligible) const {
    auto value = find_cookie(req, o_.name);
    if (!value) return HERD_AFFINITY_NONE;
    for (size_t i = 0; i < eligible.size(); ++i)
        if (cookie_value({eligible[i]->id.data, eligible[i]->id.size}) == *value) return static_cast<int64_t>(i);
    return HERD_AFFINITY_NONE;  // its backend is not eligible (now): choose afresh
}

const CookieAffinity::Entry& CookieAffinity::entry(std::string_view id) {
    for (const auto& e : cache_)
        if (e.id == id) return e;
    if (cache_.size() >= kMaxCached) cache_.clear();  // backends come and go; keep it bounded
    herd_backend b{};
    b.id = {id.data(), id.size()};
    herd_request none{};
    cache_.push_back({std::string(id), cookie_value(id), *remember(none, b)});
    return cache_.back();
}

std::optional<std::string> CookieAffinity::remember(const herd_request& req, const herd_backend& chosen) const {
    const std::string value = cookie_value({chosen.id.data, chosen.id.size});
    if (auto have = find_cookie(req, o_.name); have && *have == value) return std::nullopt;
    std::string c = o_.name + "=" + value + "; Path=" + o_.path;
    if (o_.max_age) c += "; Max-Age=" + std::to_string(o_.max_age->count());
    if (o_.http_only) c += "; HttpOnly";
    if (o_.secure || o_.same_site == "None") c += "; Secure";  // browsers refuse SameSite=None without it
    c += "; SameSite=" + o_.same_site;
    return c;
}

}  // namespace herd::affinity

#include "sharding/ring.hpp"

#include <algorithm>
#include <set>

namespace herd::sharding {

uint64_t fnv1a64(std::string_view bytes) {
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t token_of(std::string_view member, uint32_t index) {
    std::string k(member);
    k.push_back('\0');
    k += std::to_string(index);
    return key_hash(k);
}

uint64_t target_key(const std::map<std::string, std::string>& labels, const std::vector<std::string>& only) {
    std::string joined;
    bool first = true;
    for (const auto& [name, value] : labels) {  // std::map: sorted by name
        if (only.empty() ? name.rfind("__meta_", 0) == 0 : std::find(only.begin(), only.end(), name) == only.end())
            continue;
        if (!first) joined.push_back('\xff');
        first = false;
        joined += name;
        joined.push_back('=');
        joined += value;
    }
    return key_hash(joined);
}

Ring::Ring(const std::vector<std::string>& members, uint32_t tokens_per_member) {
    std::set<std::string> unique(members.begin(), members.end());
    members_.assign(unique.begin(), unique.end());
    points_.reserve(members_.size() * tokens_per_member);
    for (uint32_t m = 0; m < members_.size(); ++m)
        for (uint32_t i = 0; i < tokens_per_member; ++i) points_.push_back({token_of(members_[m], i), m});
    // members_ is sorted, so ordering equal tokens by index orders them by member id.
    std::sort(points_.begin(), points_.end(),
              [](const Point& a, const Point& b) { return a.token != b.token ? a.token < b.token : a.member < b.member; });
}

std::optional<std::string_view> Ring::owner(uint64_t key) const {
    if (points_.empty()) return std::nullopt;
    auto it = std::lower_bound(points_.begin(), points_.end(), key, [](const Point& p, uint64_t k) { return p.token < k; });
    if (it == points_.end()) it = points_.begin();  // wrap around
    return std::string_view(members_[it->member]);
}

std::map<std::string, double> Ring::shares() const {
    std::map<std::string, double> out;
    if (points_.empty()) return out;
    // A token owns the arc from the previous token (exclusive) up to itself.
    const double full = 18446744073709551616.0;  // 2^64
    for (size_t i = 0; i < points_.size(); ++i) {
        const uint64_t prev = i == 0 ? points_.back().token : points_[i - 1].token;
        const uint64_t arc = points_[i].token - prev;  // wraps correctly for i == 0
        out[members_[points_[i].member]] += static_cast<double>(arc) / full;
    }
    if (points_.size() == 1) out[members_[points_[0].member]] = 1.0;
    return out;
}

}  // namespace herd::sharding

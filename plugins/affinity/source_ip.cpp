#include "source_ip.hpp"

#include <arpa/inet.h>
#include <strings.h>

#include <algorithm>
#include <cstring>

namespace herd::affinity {

std::optional<IpKey> parse_ip(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    if (text.size() >= 2 && text.front() == '[') {  // "[v6]" or "[v6]:port"
        auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        text = text.substr(1, close - 1);
    } else if (std::count(text.begin(), text.end(), ':') == 1) {  // "v4:port"
        text = text.substr(0, text.find(':'));
    }
    if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (auto pct = std::strchr(buf, '%')) *pct = '\0';  // zone id
    IpKey k{};
    in_addr v4;
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        k[10] = k[11] = 0xff;
        std::memcpy(&k[12], &v4, 4);
        return k;
    }
    in6_addr v6;
    if (inet_pton(AF_INET6, buf, &v6) == 1) {
        std::memcpy(k.data(), &v6, 16);
        return k;
    }
    return std::nullopt;
}

bool Cidr::contains(const IpKey& ip) const {
    int bits = prefix;
    for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
        uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
        if ((ip[i] & mask) != (addr[i] & mask)) return false;
    }
    return true;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
    auto slash = text.find('/');
    auto ip = parse_ip(text.substr(0, slash));
    if (!ip) return std::nullopt;
    const bool v4 = std::string_view(text.substr(0, slash)).find(':') == std::string_view::npos;
    int prefix = 128;
    if (slash != std::string_view::npos) {
        std::string p(text.substr(slash + 1));
        if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
        prefix = std::stoi(p);
        if (prefix > (v4 ? 32 : 128)) return std::nullopt;
        if (v4) prefix += 96;
    }
    return Cidr{*ip, prefix};
}

std::optional<IpKey> client_key(const herd_request& req, std::span<const Cidr> trusted) {
    auto peer = parse_ip({req.peer_address.data, req.peer_address.size});
    if (!peer) return std::nullopt;
    bool peer_trusted = false;
    for (const auto& c : trusted) peer_trusted = peer_trusted || c.contains(*peer);
    if (!peer_trusted) return peer;  // X-Forwarded-For from anyone else can be forged
    for (size_t i = 0; i < req.header_count; ++i) {
        const auto& h = req.headers[i];
        if (h.name.size != 15 || strncasecmp(h.name.data, "x-forwarded-for", 15) != 0) continue;
        std::string_view v(h.value.data, h.value.size);
        if (auto first = parse_ip(v.substr(0, v.find(',')))) return first;
        break;
    }
    return peer;
}

size_t SourceIpAffinity::KeyHash::operator()(const IpKey& k) const noexcept {
    uint64_t h = 1469598103934665603ull;
    for (uint8_t b : k) {
        h ^= b;
        h *= 1099511628211ull;
    }
    return static_cast<size_t>(h);
}

SourceIpAffinity::SourceIpAffinity(size_t capacity, std::vector<Cidr> trusted)
    : per_shard_(std::max<size_t>(1, (capacity + kShards - 1) / kShards)), trusted_(std::move(trusted)) {}

int64_t SourceIpAffinity::lookup(const herd_request& req, std::span<const herd_backend* const> eligible) {
    auto key = client_key(req, trusted_);
    if (!key) return HERD_AFFINITY_NONE;
    auto& s = shard(*key);
    std::lock_guard lk(s.mu);
    auto it = s.index.find(*key);
    if (it == s.index.end()) return HERD_AFFINITY_NONE;
    const std::string& id = it->second->second;
    for (size_t i = 0; i < eligible.size(); ++i)
        if (id.size() == eligible[i]->id.size && std::memcmp(id.data(), eligible[i]->id.data, id.size()) == 0)
            return static_cast<int64_t>(i);
    return HERD_AFFINITY_NONE;  // remembered backend no longer eligible: choose afresh
}

void SourceIpAffinity::remember(const herd_request& req, const herd_backend& chosen) {
    auto key = client_key(req, trusted_);
    if (!key) return;
    auto& s = shard(*key);
    std::lock_guard lk(s.mu);
    auto it = s.index.find(*key);
    if (it != s.index.end()) {
        auto& id = it->second->second;
        if (id.size() != chosen.id.size || std::memcmp(id.data(), chosen.id.data, id.size()) != 0)
            id.assign(chosen.id.data, chosen.id.size);
        if (it->second != s.lru.begin()) s.lru.splice(s.lru.begin(), s.lru, it->second);
        return;
    }
    s.lru.emplace_front(*key, std::string(chosen.id.data, chosen.id.size));
    s.index[*key] = s.lru.begin();
    if (s.lru.size() > per_shard_) {
        s.index.erase(s.lru.back().first);
        s.lru.pop_back();
    }
}

size_t SourceIpAffinity::size() const {
    size_t n = 0;
    for (const auto& s : shards_) {
        std::lock_guard lk(s.mu);
        n += s.lru.size();
    }
    return n;
}

}  // namespace herd::affinity

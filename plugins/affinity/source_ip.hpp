// Source-IP affinity: a client address is remembered with the backend that served it, in an LRU
// of bounded size. The client address is the TCP peer's — or, only when the peer is a configured
// trusted proxy, the first (client-most) X-Forwarded-For hop. IPv4 and IPv6 are distinct keys
// (an IPv4-mapped IPv6 address counts as its IPv4 address). A remembered backend is used only
// while it is eligible.
#pragma once

#include <herd/plugin_api.h>

#include <array>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace herd::affinity {

using IpKey = std::array<uint8_t, 16>;  // IPv4 as ::ffff:a.b.c.d

std::optional<IpKey> parse_ip(std::string_view text);

struct Cidr {
    IpKey addr{};
    int prefix = 0;  // over the 128-bit form
    bool contains(const IpKey& ip) const;
};
std::optional<Cidr> parse_cidr(std::string_view text);  // "10.0.0.0/8", "::1/128", "192.0.2.7"

// The key for this request (see above), or nullopt when there is no usable address.
std::optional<IpKey> client_key(const herd_request& req, std::span<const Cidr> trusted_proxies);

class SourceIpAffinity {
public:
    SourceIpAffinity(size_t capacity, std::vector<Cidr> trusted);
    int64_t lookup(const herd_request& req, std::span<const herd_backend* const> eligible);
    void remember(const herd_request& req, const herd_backend& chosen);
    size_t size() const;

private:
    struct KeyHash {
        size_t operator()(const IpKey& k) const noexcept;
    };
    // Sharded so that many I/O threads rarely wait on one lock.
    struct Shard {
        mutable std::mutex mu;
        std::list<std::pair<IpKey, std::string>> lru;  // front = most recent
        std::unordered_map<IpKey, std::list<std::pair<IpKey, std::string>>::iterator, KeyHash> index;
    };
    static constexpr size_t kShards = 16;
    Shard& shard(const IpKey& k) { return shards_[KeyHash{}(k) % kShards]; }

    size_t per_shard_;
    std::vector<Cidr> trusted_;
    std::array<Shard, kShards> shards_;
};

}  // namespace herd::affinity

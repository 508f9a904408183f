// The sharding ring: who owns a key, computed by every member from the member list alone.
//
// Each member has `tokens` points on a 64-bit circle, derived from its id (nothing is stored:
// every member computes the same ring from the same member list). A key's owner is the member of
// the first token >= hash(key), wrapping around; equal tokens are ordered by member id. A member
// joining or leaving moves only the keys whose first token changes: ~1/N of them.
//
// The hash is one documented function, pinned by test vectors (tests/unit/sharding_ring_test.cpp):
//   hash(bytes) = mix64(fnv1a64(bytes)), mix64 = splitmix64's finaliser
//     (x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27; x *= 0x94d049bb133111eb; x ^= x >> 31)
//   token i of member m = hash(m + "\0" + decimal(i)), i = 0 .. tokens-1
//   a config's key  = hash(its name)               (an edit never moves it)
//   a target's key  = hash of its labels sorted by name, "name=value" joined by "\xff",
//                     without __meta_* (or only the configured target_key labels)
// FNV-1a alone has weak low bits for short similar keys ("job-1", "job-2"); the finaliser spreads them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herd::sharding {

uint64_t fnv1a64(std::string_view bytes);
uint64_t mix64(uint64_t x);
inline uint64_t key_hash(std::string_view bytes) { return mix64(fnv1a64(bytes)); }
uint64_t token_of(std::string_view member, uint32_t index);

// The key of a discovered target: its labels (sorted by name) without __meta_* — or, when
// `only` is not empty, just those labels.
uint64_t target_key(const std::map<std::string, std::string>& labels, const std::vector<std::string>& only = {});

// Tokens per member. A member's share of the circle varies by about 1/sqrt(tokens); 4096 keeps the
// busiest of 10 members within 5 % of the mean (bench/sharding), where dskit's 128 random tokens
// give 16 % and 512 give 8 %. Tokens are computed, never stored: many cost only a sort.
inline constexpr uint32_t kDefaultTokens = 4096;

class Ring {
public:
    Ring() = default;
    // Members and their token counts; a member listed twice counts once.
    explicit Ring(const std::vector<std::string>& members, uint32_t tokens_per_member = kDefaultTokens);

    // The owner of a key hash; nullopt when the ring has no member.
    std::optional<std::string_view> owner(uint64_t key) const;
    std::optional<std::string_view> owner_of(std::string_view name) const { return owner(key_hash(name)); }

    // The fraction of the circle each member owns (sums to 1): for /status and the benchmark.
    std::map<std::string, double> shares() const;
    const std::vector<std::string>& members() const { return members_; }
    size_t size() const { return members_.size(); }

private:
    struct Point {
        uint64_t token;
        uint32_t member;  // index into members_
    };
    std::vector<std::string> members_;  // sorted
    std::vector<Point> points_;         // sorted by (token, member id)
};

}  // namespace herd::sharding

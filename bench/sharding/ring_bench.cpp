// Ring balance and movement: herd's ring (512 tokens per member derived from its id, 64-bit
// hash) beside dskit's, as the Grafana Agent runs it (128 random uint32 tokens per member, FNV-1
// 32-bit of the config name, owner = first token strictly greater), on the same keys, in one run.
//   herd_ring_bench [keys (100000)] [herd's tokens per member (the default)]
#include "sharding/ring.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace herd::sharding;

namespace {

// dskit's ring as the agent uses it.
class DskitRing {
public:
    DskitRing(const std::vector<std::string>& members, uint32_t tokens, std::mt19937& rng) {
        for (uint32_t m = 0; m < members.size(); ++m)
            for (uint32_t i = 0; i < tokens; ++i) points_.push_back({static_cast<uint32_t>(rng()), m});
        std::sort(points_.begin(), points_.end());
        members_ = members;
    }
    // Adds one member with fresh random tokens (what a join does).
    void add(const std::string& member, uint32_t tokens, std::mt19937& rng) {
        const uint32_t m = static_cast<uint32_t>(members_.size());
        members_.push_back(member);
        for (uint32_t i = 0; i < tokens; ++i) points_.push_back({static_cast<uint32_t>(rng()), m});
        std::sort(points_.begin(), points_.end());
    }
    static uint32_t fnv1_32(const std::string& s) {
        uint32_t h = 2166136261u;
        for (unsigned char c : s) {
            h *= 16777619u;
            h ^= c;
        }
        return h;
    }
    const std::string& owner(const std::string& key) const {
        const uint32_t h = fnv1_32(key);
        auto it = std::upper_bound(points_.begin(), points_.end(), std::pair<uint32_t, uint32_t>{h, UINT32_MAX});
        if (it == points_.end()) it = points_.begin();
        return members_[it->second];
    }

private:
    std::vector<std::pair<uint32_t, uint32_t>> points_;
    std::vector<std::string> members_;
};

struct Figures {
    double max_over_mean, min_over_mean, moved_over_ideal;
};

template <class Before, class After>
Figures measure(size_t n, const std::vector<std::string>& keys, Before&& before, After&& after) {
    std::map<std::string, size_t> count;
    for (const auto& k : keys) ++count[before(k)];
    size_t mx = 0, mn = SIZE_MAX;
    for (const auto& [m, c] : count) mx = std::max(mx, c), mn = std::min(mn, c);
    if (count.size() < n) mn = 0;
    const double mean = static_cast<double>(keys.size()) / static_cast<double>(n);
    size_t moved = 0;
    for (const auto& k : keys) moved += before(k) != after(k);
    const double ideal = static_cast<double>(keys.size()) / static_cast<double>(n + 1);
    return {static_cast<double>(mx) / mean, static_cast<double>(mn) / mean, static_cast<double>(moved) / ideal};
}

}  // namespace

int main(int argc, char** argv) {
    const size_t nkeys = argc > 1 ? std::stoul(argv[1]) : 100000;
    const uint32_t tokens = argc > 2 ? static_cast<uint32_t>(std::stoul(argv[2])) : herd::sharding::kDefaultTokens;
    std::vector<std::string> keys;
    for (size_t i = 0; i < nkeys; ++i) keys.push_back("cfg-" + std::to_string(i));
    std::printf("%zu config names; N members, then one joins\n\n", nkeys);
    std::printf("%-6s %-34s %10s %10s %16s\n", "N", "ring", "max/mean", "min/mean", "moved/ideal");
    for (size_t n : {3, 10, 100}) {
        std::vector<std::string> members, plus;
        for (size_t i = 0; i < n; ++i) members.push_back("herd-" + std::to_string(i));
        plus = members;
        plus.push_back("herd-" + std::to_string(n));
        Ring herd_before(members, tokens), herd_after(plus, tokens);
        auto h = measure(
            n, keys, [&](const std::string& k) { return std::string(*herd_before.owner_of(k)); },
            [&](const std::string& k) { return std::string(*herd_after.owner_of(k)); });
        // dskit: random tokens, averaged over 5 seeds (its balance depends on the draw).
        Figures d{0, 0, 0};
        const int seeds = 5;
        for (int s = 0; s < seeds; ++s) {
            std::mt19937 rng(1000 + s);
            DskitRing before(members, 128, rng);
            DskitRing after = before;
            after.add(plus.back(), 128, rng);
            auto f = measure(
                n, keys, [&](const std::string& k) { return before.owner(k); },
                [&](const std::string& k) { return after.owner(k); });
            d.max_over_mean += f.max_over_mean / seeds;
            d.min_over_mean += f.min_over_mean / seeds;
            d.moved_over_ideal += f.moved_over_ideal / seeds;
        }
        const std::string herd_name = "herd (" + std::to_string(tokens) + " derived tokens, 64-bit)";
        std::printf("%-6zu %-34s %10.3f %10.3f %16.3f\n", n, herd_name.c_str(), h.max_over_mean,
                    h.min_over_mean, h.moved_over_ideal);
        std::printf("%-6zu %-34s %10.3f %10.3f %16.3f\n", n, "dskit (128 random tokens, FNV-1 32)", d.max_over_mean,
                    d.min_over_mean, d.moved_over_ideal);
        std::printf("%-6s %-34s %9.2fx %10s %15.2fx\n\n", "", "dskit / herd", d.max_over_mean / h.max_over_mean, "",
                    d.moved_over_ideal / h.moved_over_ideal);
    }
}

// Prometheus-style durations ("500ms", "10s", "1m30s", "2h", "1d", "1w"), as in every herd config.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace herd::sdk {

// Returns nullopt for anything that is not a well-formed, non-overflowing duration.
// Units must appear largest first and at most once, as Prometheus requires.
inline std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) noexcept {
    struct Unit {
        std::string_view name;
        int64_t ms;
    };
    static constexpr Unit units[] = {{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
                                     {"h", 3600000},           {"m", 60000},         {"s", 1000},
                                     {"ms", 1}};
    if (s.empty()) return std::nullopt;
    if (s == "0") return std::chrono::milliseconds(0);
    int64_t total = 0;
    size_t next_unit = 0;  // index of the smallest unit still allowed
    size_t i = 0;
    while (i < s.size()) {
        size_t start = i;
        int64_t n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (n > (INT64_MAX - 9) / 10) return std::nullopt;
            n = n * 10 + (s[i] - '0');
            ++i;
        }
        if (i == start) return std::nullopt;
        size_t ustart = i;
        while (i < s.size() && s[i] >= 'a' && s[i] <= 'z') ++i;
        std::string_view u = s.substr(ustart, i - ustart);
        size_t k = next_unit;
        while (k < std::size(units) && units[k].name != u) ++k;
        if (k == std::size(units)) return std::nullopt;  // unknown, repeated or out of order
        if (n != 0 && units[k].ms > INT64_MAX / n) return std::nullopt;
        if (total > INT64_MAX - n * units[k].ms) return std::nullopt;
        total += n * units[k].ms;
        next_unit = k + 1;
    }
    return std::chrono::milliseconds(total);
}

}  // namespace herd::sdk

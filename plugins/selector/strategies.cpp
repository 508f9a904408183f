#include "strategies.hpp"

#include <cmath>

namespace herd::selector {

namespace {
Decision empty(size_t n) { return {std::vector<uint8_t>(n, 0), std::vector<double>(n, NAN)}; }
bool ready(const herd_backend_stats* s) { return (s->present & HERD_STAT_READY) && s->ready; }
// A backend whose requests failed since the last selection (or that is ejected: the host reports
// at least 1 then) is passed over while another ready one has no failures: a replica that
// answers /-/ready but resets or times out must not stay the only choice.
bool failing(const herd_backend_stats* s) { return s->recent_failures > 0; }
std::string id_of(const herd_backend_stats* s) { return std::string(s->backend->id.data, s->backend->id.size); }
}  // namespace

Decision random_strategy(std::span<const herd_backend_stats* const> b) {
    auto d = empty(b.size());
    for (size_t i = 0; i < b.size(); ++i) d.eligible[i] = ready(b[i]);
    return d;
}

Decision single_most_data(std::span<const herd_backend_stats* const> b, const MostDataOptions& o,
                          const std::string& current_id) {
    auto d = empty(b.size());
    const uint32_t need = HERD_STAT_HEAD_SAMPLES | HERD_STAT_STORAGE_BYTES;
    bool any_healthy = false;
    for (size_t i = 0; i < b.size(); ++i)
        if ((b[i]->present & need) == need && ready(b[i]) && !failing(b[i])) any_healthy = true;
    std::optional<size_t> best, current;
    for (size_t i = 0; i < b.size(); ++i) {
        if ((b[i]->present & need) != need) continue;  // no figures: cannot be compared
        d.score[i] = b[i]->head_samples + b[i]->storage_bytes / o.bytes_per_sample;
        // A fresh replica has nothing yet (score 0): still a choice when it is the only one.
        if (!ready(b[i]) || !(d.score[i] >= 0)) continue;
        if (any_healthy && failing(b[i])) continue;
        if (!best || d.score[i] > d.score[*best]) best = i;
        if (id_of(b[i]) == current_id) current = i;
    }
    if (!best) return d;
    size_t chosen = *best;
    if (current && d.score[*current] >= d.score[*best] * (1.0 - o.margin)) chosen = *current;
    d.eligible[chosen] = 1;
    return d;
}

Decision minimum_history(std::span<const herd_backend_stats* const> b, std::chrono::milliseconds min_history,
                         double now_s) {
    auto d = empty(b.size());
    const double need_s = std::chrono::duration<double>(min_history).count();
    for (size_t i = 0; i < b.size(); ++i) {
        if (!(b[i]->present & HERD_STAT_LOWEST_TIMESTAMP)) continue;
        d.score[i] = now_s - b[i]->lowest_timestamp_s;  // seconds of history
        d.eligible[i] = ready(b[i]) && d.score[i] >= need_s;
    }
    return d;
}

Decision first_ready(std::span<const herd_backend_stats* const> b) {
    auto d = empty(b.size());
    std::optional<size_t> first, first_healthy;
    for (size_t i = 0; i < b.size(); ++i) {
        if (!ready(b[i])) continue;
        if (!first) first = i;
        if (!failing(b[i]) && !first_healthy) first_healthy = i;
    }
    if (auto chosen = first_healthy ? first_healthy : first) d.eligible[*chosen] = 1;
    return d;
}

}  // namespace herd::selector

// The decisions of each strategy, as pure functions of the backends' stats: which are eligible,
// and the comparison value /status shows. The plugin classes in selector_plugin.cpp wrap them.
#pragma once

#include <herd/plugin_api.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace herd::selector {

struct Decision {
    std::vector<uint8_t> eligible;
    std::vector<double> score;
};

// Every ready backend.
Decision random_strategy(std::span<const herd_backend_stats* const> b);

// The one ready backend holding the most data: samples appended to the head plus the samples its
// persisted blocks hold (bytes / bytes_per_sample), so a restart does not reset the ranking.
// The current choice is kept while the best beats it by less than `margin` (a fraction), so two
// replicas with nearly the same data do not make graphs flip between them. A backend with recent
// failures is passed over while a ready one without failures has figures.
struct MostDataOptions {
    double bytes_per_sample = 1.3;
    double margin = 0.05;
};
Decision single_most_data(std::span<const herd_backend_stats* const> b, const MostDataOptions& o,
                          const std::string& current_id);

// Every ready backend whose history (now - lowest timestamp) is at least `min_history`.
Decision minimum_history(std::span<const herd_backend_stats* const> b, std::chrono::milliseconds min_history,
                         double now_s);

// The first ready backend in discovery order (active/standby); one with recent failures is passed
// over while a later ready one has none.
Decision first_ready(std::span<const herd_backend_stats* const> b);

}  // namespace herd::selector

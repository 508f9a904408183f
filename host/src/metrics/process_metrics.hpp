#pragma once
#include "metrics/registry.hpp"

namespace herd::metrics {
// Registers process_* metrics (CPU, memory, fds, start time) read from /proc at each scrape.
void register_process_metrics(Registry& r);
}  // namespace herd::metrics

// Gathers what a strategy needs from every backend at once: GET /-/ready and, when the strategy
// reads TSDB figures, GET /metrics parsed with the metrics client. Each backend's fetches share
// one deadline; a backend that fails is reported with why, never waited for beyond it.
#pragma once

#include "proxy/backend.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace herd::proxy {

boost::asio::awaitable<std::vector<BackendStats>> gather_stats(std::vector<std::shared_ptr<Backend>> backends,
                                                               uint32_t needs, std::chrono::milliseconds timeout);

// Reads the HERD_STAT_* figures out of a Prometheus /metrics text. Sets stats.error on failure.
void read_prometheus_stats(const std::string& text, uint32_t needs, BackendStats& stats);

}  // namespace herd::proxy

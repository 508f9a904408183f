#pragma once
#include <cstdint>
#include <string>
#include <utility>

namespace herd::util {
// Splits "host:port" or "[v6]:port"; an empty host means all interfaces (0.0.0.0).
// Throws std::invalid_argument with a message fit for the user.
std::pair<std::string, uint16_t> split_host_port(const std::string& host_port);
}  // namespace herd::util

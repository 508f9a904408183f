#include "util/host_port.hpp"

#include <stdexcept>

namespace herd::util {

std::pair<std::string, uint16_t> split_host_port(const std::string& hp) {
    auto colon = hp.rfind(':');
    if (colon == std::string::npos || colon + 1 == hp.size())
        throw std::invalid_argument("\"" + hp + "\" is not host:port");
    std::string host = hp.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) host = "0.0.0.0";
    unsigned long port = 0;
    try {
        size_t used = 0;
        port = std::stoul(hp.substr(colon + 1), &used);
        if (used != hp.size() - colon - 1) throw std::invalid_argument("");
    } catch (...) {
        throw std::invalid_argument("\"" + hp + "\" has no valid port");
    }
    if (port > 65535) throw std::invalid_argument("\"" + hp + "\" has a port over 65535");
    return {host, static_cast<uint16_t>(port)};
}

}  // namespace herd::util

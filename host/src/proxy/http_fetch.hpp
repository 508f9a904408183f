// A small async HTTP/1.1 GET for the selection loop: /metrics and /-/ready of each backend.
// One connection per fetch, bounded in time and body size.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>

namespace herd::proxy {

struct FetchResult {
    int status = 0;     // 0 when no HTTP answer came
    std::string body;
    std::string error;  // connection refused, timeout, too large...
};

boost::asio::awaitable<FetchResult> http_get(std::string host, std::string port, std::string target,
                                             std::chrono::milliseconds timeout, size_t body_limit = 32 << 20);

}  // namespace herd::proxy

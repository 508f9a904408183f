// A small blocking HTTP/1.1 client for the host's own calls between herds (a dispatch node's
// polls, a follower forwarding to its leader). One connection per call, bounded in time and in
// the size of the answer; never used on an I/O thread.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace herd::http_client {

struct Request {
    std::string method = "GET";
    std::string host_port;  // "10.0.0.1:9095"
    std::string target = "/";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string content_type;  // set when body is
    std::chrono::milliseconds timeout{10000};  // the whole exchange (Datadog's node client: 10 s)
    size_t body_limit = 64 << 20;
};

struct Response {
    int status = 0;  // 0: no answer; see error
    std::string error;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
    std::string body;
    std::string header(const std::string& lower_name) const {
        for (const auto& [k, v] : headers)
            if (k == lower_name) return v;
        return {};
    }
};

Response call(const Request& req);

}  // namespace herd::http_client

// Telling an agent to re-read its configuration: POST to a reload URL (Prometheus' /-/reload,
// vmagent's /-/reload) or a signal to the pid in a pid file (SIGHUP for Prometheus, Telegraf).
// Shared by the sinks.
#pragma once

#include "curl_http.hpp"

#include <chrono>
#include <string>

namespace herd::agent {

struct ReloadConfig {
    std::string url;        // POST here; the answer must be 2xx
    std::string pid_file;   // or signal the pid written in it
    int signal = 1;         // SIGHUP
    std::chrono::milliseconds timeout{10000};
    bool configured() const { return !url.empty() || !pid_file.empty(); }
};

// Throws sdk::Error: HERD_ERR_UNAVAILABLE when the agent cannot be reached (no process, refused),
// HERD_ERR_INVALID_ARGUMENT when it answered that it refused the configuration (the message
// carries its answer), HERD_ERR_TIMEOUT when it did not answer in time.
void reload(const ReloadConfig& r, net::HttpClient& http);


}  // namespace herd::agent

namespace herd::sdk {
class JsonConfig;
struct CreateContext;
}  // namespace herd::sdk

namespace herd::agent {
// Reads reload_url | pid_file (+ reload_signal "SIGHUP"), reload_timeout from a sink's config.
ReloadConfig read_reload_config(sdk::JsonConfig& cfg, const sdk::CreateContext& ctx);
}  // namespace herd::agent

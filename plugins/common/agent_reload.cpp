#include "agent_reload.hpp"

#include "atomic_file.hpp"

#include <herd/sdk/error.hpp>

#include <signal.h>

#include <cerrno>
#include <cstring>

namespace herd::agent {

void reload(const ReloadConfig& r, net::HttpClient& http) {
    if (!r.url.empty()) {
        net::HttpRequest req;
        req.method = "POST";
        req.url = r.url;
        req.timeout = r.timeout;
        auto res = http.perform(req);  // throws UNAVAILABLE / TIMEOUT naming the URL
        if (res.status < 200 || res.status >= 300) {
            std::string body = res.body;
            while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
            throw sdk::Error(res.status >= 500 || res.status == 400 ? HERD_ERR_INVALID_ARGUMENT : HERD_ERR_UNAVAILABLE,
                             "POST " + r.url + " answered " + std::to_string(res.status) + ": " + body);
        }
        return;
    }
    if (!r.pid_file.empty()) {
        bool exists = false;
        const std::string text = files::read_file(r.pid_file, &exists);
        if (!exists) throw sdk::Error(HERD_ERR_UNAVAILABLE, "pid file " + r.pid_file + " does not exist (is the agent running?)");
        long pid = 0;
        try {
            pid = std::stol(text);
        } catch (...) {
            pid = 0;
        }
        if (pid <= 1) throw sdk::Error(HERD_ERR_UNAVAILABLE, "pid file " + r.pid_file + " holds no process id");
        if (::kill(static_cast<pid_t>(pid), r.signal) != 0)
            throw sdk::Error(HERD_ERR_UNAVAILABLE, "cannot signal pid " + std::to_string(pid) + " (from " + r.pid_file +
                                                       "): " + std::strerror(errno));
    }
}

}  // namespace herd::agent

#include <herd/sdk/host.hpp>
#include <herd/sdk/json_config.hpp>

namespace herd::agent {

ReloadConfig read_reload_config(sdk::JsonConfig& cfg, const sdk::CreateContext& ctx) {
    ReloadConfig r;
    r.url = cfg.string("reload_url", "");
    r.pid_file = ctx.path(cfg.string("pid_file", ""));
    if (!r.url.empty() && !r.pid_file.empty())
        throw sdk::ConfigError("pid_file", "choose reload_url or pid_file, not both");
    if (!r.url.empty() && r.url.rfind("http://", 0) != 0 && r.url.rfind("https://", 0) != 0)
        throw sdk::ConfigError("reload_url", "must be an http:// or https:// URL, e.g. \"http://127.0.0.1:9090/-/reload\"");
    const std::string sig = cfg.string("reload_signal", "SIGHUP");
    static const std::pair<const char*, int> names[] = {{"SIGHUP", SIGHUP}, {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}};
    r.signal = 0;
    for (const auto& [n, v] : names)
        if (sig == n) r.signal = v;
    if (!r.signal) throw sdk::ConfigError("reload_signal", "must be \"SIGHUP\", \"SIGUSR1\" or \"SIGUSR2\"");
    if (cfg.has("reload_signal") && r.pid_file.empty())
        throw sdk::ConfigError("reload_signal", "needs pid_file: the process to signal");
    if (auto t = cfg.duration("reload_timeout")) r.timeout = *t;
    return r;
}

}  // namespace herd::agent

// Discovery propagation: the time from a Kubernetes watch event to the proxy's backend set
// changing. The pieces are herd's own: the sd_k8s plugin loaded through the ABI, the host's
// discovery runner and manager, and the proxy's BackendTable fed by a subscription exactly as
// ProxyPipeline feeds it. The API server is the Kubernetes protocol double, in this process.
// Each event alternately adds and removes one endpoint address; the clock starts just before the
// double publishes the event and stops when BackendTable::apply reports the changed set.
//
// With --prometheus, the same events also go to Debian's Prometheus (kubernetes_sd, role endpoints,
// against the same double), timed until /api/v1/targets shows the change: Prometheus' discovery
// manager throttles updates to one per 5 s by design, so far fewer events are timed there.
//
//   herd_propagation_bench <plugin dir> [events (1000)] [--prometheus <events (10)>]
#include "discovery/manager.hpp"
#include "k8s_double.hpp"
#include "marathon_double.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "proxy/backend_table.hpp"
#include "runtime/discovery_runner.hpp"

#include "curl_http.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

using namespace herd;
using nlohmann::json;
using clock_type = std::chrono::steady_clock;

static json endpoints(int n) {
    json addrs = json::array();
    for (int i = 0; i < n; ++i) addrs.push_back({{"ip", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)}});
    return {{"metadata", {{"name", "prometheus"}, {"namespace", "monitoring"}}},
            {"subsets", {{{"addresses", addrs}, {"ports", {{{"name", "web"}, {"port", 9090}, {"protocol", "TCP"}}}}}}}};
}

static std::string percentiles(std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
    char out[160];
    std::snprintf(out, sizeof out, "events %4zu  p50 %9.3f ms  p99 %9.3f ms  max %9.3f ms", ms.size(), pct(0.5), pct(0.99), ms.back());
    return out;
}

static uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

// Prometheus on the same double (sd_config is its scrape config's discovery part): events timed
// until /api/v1/targets shows the change.
static void random_phase(std::chrono::milliseconds cycle);
static int prometheus(const std::string& sd_config, const std::function<void(int)>& publish, int base, int events,
                      std::vector<double>* out, std::chrono::milliseconds poll) {
    const auto dir = std::filesystem::temp_directory_path() / ("herd-propagation-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    {
        FILE* f = std::fopen((dir / "prometheus.yml").c_str(), "w");
        std::fprintf(f, "global: {scrape_interval: 1h}\nscrape_configs:\n- job_name: sd\n%s", sd_config.c_str());
        std::fclose(f);
    }
    const uint16_t port = free_port();
    const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port);
    const std::string cfg = "--config.file=" + (dir / "prometheus.yml").string(), data = "--storage.tsdb.path=" + (dir / "data").string();
    const char* args[] = {"/usr/bin/prometheus", cfg.c_str(), data.c_str(), listen.c_str(), "--log.level=warn", nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, (dir / "prometheus.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    if (posix_spawn(&pid, args[0], &fa, nullptr, const_cast<char* const*>(args), environ) != 0) {
        std::fprintf(stderr, "cannot start /usr/bin/prometheus\n");
        return 1;
    }
    net::HttpClient http;
    auto active = [&]() -> int {
        try {
            net::HttpRequest req;
            req.url = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/targets?state=active";
            req.timeout = std::chrono::seconds(2);
            auto r = http.perform(req);
            auto j = json::parse(r.body, nullptr, false);
            if (r.status != 200 || j.is_discarded()) return -1;
            return static_cast<int>(j["data"]["activeTargets"].size());
        } catch (const std::exception&) {
            return -1;
        }
    };
    auto wait_for = [&](int n, clock_type::time_point* at) {
        const auto give_up = clock_type::now() + std::chrono::seconds(60);
        while (clock_type::now() < give_up) {
            if (active() == n) {
                *at = clock_type::now();
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling Prometheus' API is the only way to see it
        }
        return false;
    };
    int rc = 0;
    clock_type::time_point at;
    std::vector<double> ms;
    if (!wait_for(base, &at)) {
        std::fprintf(stderr, "prometheus never showed the first %d targets (see %s)\n", base, (dir / "prometheus.log").c_str());
        rc = 1;
    }
    for (int i = 0; rc == 0 && i < events; ++i) {
        const int want = i % 2 == 0 ? base + 1 : base;
        random_phase(poll);
        const auto t0 = clock_type::now();
        publish(want);
        if (!wait_for(want, &at)) {
            std::fprintf(stderr, "prometheus: event %d never showed\n", i);
            rc = 1;
            break;
        }
        ms.push_back(std::chrono::duration<double, std::milli>(at - t0).count());
    }
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    if (rc == 0) std::filesystem::remove_all(dir);  // kept on failure: prometheus.log says why
    *out = std::move(ms);
    return rc;
}

// herd's side: the plugin through the ABI, the discovery runner and manager, the proxy's
// BackendTable; each event timed from just before it is published to the changed backend set.
// A pause of random length before each change of a polled source, so changes land at every phase
// of the poll cycle instead of right after a poll.
static void random_phase(std::chrono::milliseconds cycle) {
    if (cycle.count() == 0) return;
    static std::mt19937 rng{std::random_device{}()};
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, cycle.count())(rng)));
}

static int herd_side(const std::filesystem::path& plugin_dir, const std::string& plugin, const std::string& config,
                     const std::function<void(int)>& publish, int base, int events, std::vector<double>* out,
                     std::chrono::milliseconds poll = std::chrono::milliseconds(0)) {
    metrics::Registry reg;
    discovery::Manager manager(reg);
    plugins::PluginRegistry plugins(reg, false);
    auto loaded = plugins.load(plugin_dir / (plugin + ".so"));
    if (!loaded.plugin) {
        std::fprintf(stderr, "cannot load %s: %s\n", plugin.c_str(), loaded.refusal.c_str());
        return 1;
    }
    plugins::CreateError err;
    auto dir = std::filesystem::temp_directory_path();
    auto inst = plugins::Instance::create(loaded.plugin, loaded.plugin->factories.at(0), "sd", config, dir, dir, &err);
    if (!inst) {
        std::fprintf(stderr, "%s: %s\n", plugin.c_str(), err.message.c_str());
        return 1;
    }
    runtime::DiscoveryRunner runner(std::move(inst), manager);
    proxy::BackendTable table({"sd"});
    std::mutex mu;
    std::condition_variable cv;
    size_t backends = 0;
    clock_type::time_point changed_at;
    const uint64_t sub = manager.subscribe("sd", [&](const std::string& name, const std::vector<discovery::TargetGroup>& changed) {
        if (!table.apply(name, changed)) return;  // as ProxyPipeline does: the proxy's backend set
        const auto now = clock_type::now();
        std::lock_guard lk(mu);
        backends = table.backends().size();
        changed_at = now;
        cv.notify_all();
    });
    if (auto e = runner.start(); !e.empty()) {
        std::fprintf(stderr, "start: %s\n", e.c_str());
        return 1;
    }
    auto wait_for = [&](size_t n) {
        std::unique_lock lk(mu);
        return cv.wait_for(lk, std::chrono::seconds(30), [&] { return backends == n; });
    };
    int rc = 0;
    if (!wait_for(base)) {
        std::fprintf(stderr, "the first %d backends never arrived\n", base);
        rc = 1;
    }
    for (int i = 0; rc == 0 && i < events; ++i) {
        const int want = i % 2 == 0 ? base + 1 : base;
        random_phase(poll);
        const auto t0 = clock_type::now();
        publish(want);
        if (!wait_for(static_cast<size_t>(want))) {
            std::fprintf(stderr, "event %d never reached the backend table\n", i);
            rc = 1;
            break;
        }
        std::lock_guard lk(mu);
        out->push_back(std::chrono::duration<double, std::milli>(changed_at - t0).count());
    }
    manager.unsubscribe(sub);
    return rc;
}

static json marathon_apps(int tasks) {
    json list = json::array();
    for (int i = 0; i < tasks; ++i)
        list.push_back({{"id", "prometheus." + std::to_string(i)}, {"host", "10.0.0." + std::to_string(i + 1)},
                        {"ports", json::array({9090})}, {"state", "TASK_RUNNING"}});
    return json::array({{{"id", "/prometheus"}, {"tasks", list}}});
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <plugin dir> [k8s events (1000)] [--marathon <events (10)>]\n", argv[0]);
        return 2;
    }
    const std::filesystem::path plugin_dir = argv[1];
    const int events = argc > 2 ? std::stoi(argv[2]) : 1000;
    int marathon_events = 0;
    for (int i = 3; i < argc; ++i)
        if (std::string(argv[i]) == "--marathon") marathon_events = i + 1 < argc ? std::stoi(argv[i + 1]) : 10;
    spdlog::set_level(spdlog::level::warn);
    const int base = 10;  // replicas always present; one more comes and goes

    // 1. A Kubernetes watch event to the proxy's backend set (Debian's Prometheus is built without
    //    kubernetes_sd, so there is no peer to run here; its discovery manager would add up to 5 s).
    {
        test::K8sDouble k8s;
        k8s.apply("endpoints", endpoints(base));
        std::vector<double> ms;
        if (herd_side(plugin_dir, "sd_k8s", json{{"api_server", k8s.url()}, {"service", "prometheus"}, {"namespaces", {"monitoring"}}}.dump(),
                      [&](int n) { k8s.apply("endpoints", endpoints(n)); }, base, events, &ms) != 0)
            return 1;
        std::printf("k8s watch event -> backend set     herd       %s   (target: p99 <= 100 ms)\n", percentiles(ms).c_str());
    }
    // 2. A Marathon change seen by a poll (refresh_interval 1s on both sides): herd vs Prometheus.
    if (marathon_events > 0) {
        test::MarathonDouble m;
        m.set_apps(marathon_apps(base));
        std::vector<double> h, p;
        if (herd_side(plugin_dir, "sd_marathon", json{{"servers", {m.url()}}, {"refresh_interval", "1s"}}.dump(),
                      [&](int n) { m.set_apps(marathon_apps(n)); }, base, marathon_events, &h, std::chrono::seconds(1)) != 0)
            return 1;
        std::printf("marathon change -> backend set     herd       %s\n", percentiles(h).c_str());
        m.set_apps(marathon_apps(base));
        if (prometheus("  marathon_sd_configs:\n  - servers: ['" + m.url() + "']\n    refresh_interval: 1s\n",
                       [&](int n) { m.set_apps(marathon_apps(n)); }, base, marathon_events, &p, std::chrono::seconds(5)) != 0)
            return 1;
        std::printf("marathon change -> active targets  prometheus %s   (its discovery manager sends at most every 5 s)\n",
                    percentiles(p).c_str());
        std::printf("prometheus/herd, median: %.1fx\n", median(p) / median(h));
    }
    return 0;
}

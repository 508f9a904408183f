#include "proxy/stats_gatherer.hpp"

#include "metrics_client/exposition.hpp"
#include "proxy/http_fetch.hpp"

#include <boost/asio.hpp>

namespace herd::proxy {

namespace asio = boost::asio;

namespace {
constexpr uint32_t kMetricStats =
    HERD_STAT_START_TIME | HERD_STAT_HEAD_SAMPLES | HERD_STAT_STORAGE_BYTES | HERD_STAT_LOWEST_TIMESTAMP;

asio::awaitable<void> gather_one(std::shared_ptr<Backend> b, uint32_t needs, std::chrono::milliseconds timeout,
                                 BackendStats& out) {
    // Readiness always counts: a strategy's choice must be able to serve (mpp's "viable").
    auto ready = co_await http_get(b->host, b->port, "/-/ready", timeout);
    out.ready = ready.status == 200;
    out.present |= HERD_STAT_READY;
    if (ready.status == 0) out.error = "/-/ready: " + ready.error;
    if ((needs & kMetricStats) == 0) co_return;
    auto m = co_await http_get(b->host, b->port, "/metrics", timeout);
    if (m.status != 200) {
        out.error = "/metrics: " + (m.status ? "HTTP " + std::to_string(m.status) : m.error);
        co_return;
    }
    read_prometheus_stats(m.body, needs, out);
}
}  // namespace

void read_prometheus_stats(const std::string& text, uint32_t needs, BackendStats& s) {
    metrics_client::Exposition e;
    try {
        e = metrics_client::Exposition::parse(text);
    } catch (const std::exception& ex) {
        s.error = std::string("/metrics is not Prometheus text format: ") + ex.what();
        return;
    }
    auto take = [&](uint32_t bit, std::optional<double> v, double& field) {
        if (!(needs & bit) || !v) return;
        field = *v;
        s.present |= bit;
    };
    take(HERD_STAT_START_TIME, e.value("process_start_time_seconds"), s.start_time_s);
    // Every series of the family: 2.x has {type="float"} and {type="histogram"}, older ones none.
    // The head-samples counter has no series before a fresh Prometheus appends its first sample,
    // while its TSDB (whose head-series gauge is always there) already serves: that is 0, not unknown.
    auto head = e.sum("prometheus_tsdb_head_samples_appended_total");
    if (!head && e.value("prometheus_tsdb_head_series")) head = 0.0;
    take(HERD_STAT_HEAD_SAMPLES, head, s.head_samples);
    take(HERD_STAT_STORAGE_BYTES, e.value("prometheus_tsdb_storage_blocks_bytes"), s.storage_bytes);
    take(HERD_STAT_LOWEST_TIMESTAMP, e.value("prometheus_tsdb_lowest_timestamp_seconds"), s.lowest_timestamp_s);
    const uint32_t missing = (needs & kMetricStats) & ~s.present;
    if (missing && s.error.empty())
        s.error = "/metrics lacks what the strategy needs (is this a Prometheus server?)";
}

asio::awaitable<std::vector<BackendStats>> gather_stats(std::vector<std::shared_ptr<Backend>> backends, uint32_t needs,
                                                        std::chrono::milliseconds timeout) {
    auto ex = co_await asio::this_coro::executor;
    std::vector<BackendStats> out(backends.size());
    if (backends.empty()) co_return out;
    // All fetches run concurrently; a timer stands in for "wait until the last one finished".
    asio::steady_timer done(ex, std::chrono::steady_clock::time_point::max());
    size_t left = backends.size();
    for (size_t i = 0; i < backends.size(); ++i) {
        asio::co_spawn(ex, gather_one(backends[i], needs, timeout, out[i]), [&](std::exception_ptr e) {
            if (e) out[i].error = "internal error while gathering stats";
            if (--left == 0) done.cancel();
        });
    }
    auto [ec] = co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
    co_return out;
}

}  // namespace herd::proxy

#include "proxy/selection_loop.hpp"

#include "plugins/host_services.hpp"
#include "proxy/stats_gatherer.hpp"

#include <boost/asio.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <thread>

namespace herd::proxy {

namespace asio = boost::asio;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

struct SelectionLoop::Impl {
    std::string proxy;
    config::ProxyConfig cfg;
    BackendTable& table;
    const plugins::Instance& selector;
    SelectionSource& out;
    metrics::Registry& registry;

    asio::io_context io{1};
    asio::steady_timer wake{io};
    std::thread thread;
    bool pending = false;   // io thread only
    bool stopping = false;  // io thread only
    std::map<std::string, bool> readiness;  // io thread only: last known, for the health checks

    mutable std::mutex mu;
    std::condition_variable cv;
    bool first_done = false;
    SelectionView view;

    Impl(std::string p, const config::ProxyConfig& c, BackendTable& t, const plugins::Instance& s, SelectionSource& o,
         metrics::Registry& r)
        : proxy(std::move(p)), cfg(c), table(t), selector(s), out(o), registry(r) {}

    void count(const std::string& result) {
        registry.counter("herd_proxy_selection_events_total", "Selections by result.", {"proxy", "result"})
            .with({proxy, result})
            .add(1);
    }

    asio::awaitable<void> select_once() {
        out.round_started();
        auto backends = table.backends();
        const auto* ops = selector.factory().selector;
        const uint32_t needs = ops->needs(selector.handle());
        auto stats = co_await gather_stats(backends, needs, cfg.stats_timeout);

        const size_t n = backends.size();
        std::vector<herd_backend_stats> hs(n);
        std::vector<const herd_backend_stats*> ptrs(n);
        for (size_t i = 0; i < n; ++i) {
            auto& h = hs[i];
            h.header = {sizeof(herd_backend_stats), HERD_ABI_MAJOR, HERD_ABI_MINOR};
            h.backend = &backends[i]->abi;
            h.present = stats[i].present;
            h.ready = stats[i].ready ? 1 : 0;
            h.start_time_s = stats[i].start_time_s;
            h.head_samples = stats[i].head_samples;
            h.storage_bytes = stats[i].storage_bytes;
            h.lowest_timestamp_s = stats[i].lowest_timestamp_s;
            h.recent_failures = backends[i]->failures_since_selection.exchange(0);
            // An ejected backend is still failing as far as the strategy should know.
            if (backends[i]->ejected(steady_now_ns()) && h.recent_failures == 0) h.recent_failures = 1;
            ptrs[i] = &h;
            readiness[backends[i]->id] = stats[i].ready;
        }
        std::vector<uint8_t> eligible(n, 0);
        std::vector<double> score(n, NAN);
        plugins::ErrorCapture err;
        herd_status st = n ? ops->select(selector.handle(), ptrs.data(), n, eligible.data(), score.data(), err.get())
                           : HERD_OK;

        auto current = out.get();
        std::string result, error;
        if (st != HERD_OK) {
            result = "error";
            error = "the strategy failed: " + (err.set ? err.message : std::string(plugins::status_name(st)));
            spdlog::error("proxy {}: {}; keeping the previous selection", proxy, error);
        } else {
            auto next = std::make_shared<Selection>();
            std::vector<size_t> rest;
            for (size_t i = 0; i < n; ++i) {
                if (eligible[i]) next->eligible.push_back(backends[i]);
                else if (stats[i].ready) rest.push_back(i);
            }
            // Fallbacks best first: the strategy's score where it has one, then discovery order.
            std::stable_sort(rest.begin(), rest.end(), [&](size_t a, size_t b) {
                const bool ha = !std::isnan(score[a]), hb = !std::isnan(score[b]);
                if (ha != hb) return ha;
                return ha && score[a] > score[b];
            });
            for (size_t i : rest) next->fallback.push_back(backends[i]);
            std::vector<std::string> before, after;
            for (auto& b : current->eligible) before.push_back(b->id);
            for (auto& b : next->eligible) after.push_back(b->id);
            std::vector<std::string> fallback_before, fallback_after;
            for (auto& b : current->fallback) fallback_before.push_back(b->id);
            for (auto& b : next->fallback) fallback_after.push_back(b->id);
            if (next->eligible.empty() && !current->eligible.empty()) {
                result = "kept_previous";
                if (view.last_result != "kept_previous")  // once per outage, not once per selection
                    spdlog::warn("proxy {}: no backend qualifies; keeping the previous selection", proxy);
            } else if (next->eligible.empty()) {
                result = "none";
            } else if (before == after) {
                result = "unchanged";
                if (fallback_before != fallback_after) {  // only the fallbacks moved: publish quietly
                    next->version = current->version + 1;
                    out.publish(std::move(next));
                }
            } else {
                result = "changed";
                std::string list;
                for (auto& id : after) list += (list.empty() ? "" : ", ") + id;
                spdlog::info("proxy {}: selected {}", proxy, list);
                next->version = current->version + 1;
                out.publish(std::move(next));
            }
        }
        count(result);

        // What /status and /metrics show.
        auto chosen = out.get();
        const int64_t now = steady_now_ns();
        SelectionView v;
        v.last = std::chrono::system_clock::now();
        v.last_result = result;
        v.error = error;
        for (size_t i = 0; i < n; ++i) {
            BackendView b;
            b.id = backends[i]->id;
            for (auto& e : chosen->eligible) b.eligible = b.eligible || e.get() == backends[i].get();
            b.stats = stats[i];
            b.score = score[i];
            b.ejected = backends[i]->ejected(now);
            v.backends.push_back(std::move(b));
        }
        auto gauge = [&](const char* name, const char* help, const std::string& id, double value) {
            registry.gauge(name, help, {"proxy", "backend"}).with({proxy, id}).set(value);
        };
        for (auto& b : v.backends) {
            gauge("herd_proxy_backend_ready", "1 when the backend's /-/ready answered 200 at the last check.", b.id, b.stats.ready);
            gauge("herd_proxy_backend_eligible", "1 when the last selection made the backend eligible.", b.id, b.eligible);
            gauge("herd_proxy_backend_score", "The strategy's comparison value for the backend (NaN if none).", b.id, b.score);
            gauge("herd_proxy_backend_ejected", "1 while the backend is ejected after failures.", b.id, b.ejected);
        }
        registry.gauge("herd_proxy_eligible_backends", "Backends the last selection made eligible.", {"proxy"})
            .with({proxy})
            .set(static_cast<double>(chosen->eligible.size()));
        registry.gauge("herd_proxy_backends", "Backends the proxy knows from discovery.", {"proxy"})
            .with({proxy})
            .set(static_cast<double>(n));
        {
            std::lock_guard lk(mu);
            v.selections = view.selections + 1;
            view = std::move(v);
            first_done = true;
        }
        out.round_finished();
        cv.notify_all();
    }

    asio::awaitable<void> run() {
        auto last = std::chrono::steady_clock::now() - std::chrono::hours(1);
        for (;;) {
            // A burst of failures asks for many selections; run at most one per 100 ms.
            auto gap = std::chrono::milliseconds(100) - (std::chrono::steady_clock::now() - last);
            if (gap.count() > 0) {
                asio::steady_timer t(io, gap);
                co_await t.async_wait(nothrow);
            }
            pending = false;
            last = std::chrono::steady_clock::now();
            co_await select_once();
            if (stopping) co_return;
            if (pending) continue;
            wake.expires_after(cfg.interval);
            co_await wake.async_wait(nothrow);
            if (stopping) co_return;
        }
    }

    // Active health: /-/ready of every backend; a change of readiness selects again at once.
    asio::awaitable<void> health() {
        asio::steady_timer t(io);
        for (;;) {
            t.expires_after(cfg.health_interval);
            co_await t.async_wait(nothrow);
            if (stopping) co_return;
            auto backends = table.backends();
            auto stats = co_await gather_stats(backends, 0, cfg.stats_timeout);
            bool changed = false;
            for (size_t i = 0; i < backends.size(); ++i) {
                auto it = readiness.find(backends[i]->id);
                if (it == readiness.end() || it->second != stats[i].ready) changed = true;
            }
            if (changed) poke();
        }
    }

    void poke() {
        pending = true;
        wake.cancel();
    }
};

SelectionLoop::SelectionLoop(std::string proxy, const config::ProxyConfig& cfg, BackendTable& table,
                             const plugins::Instance& selector, SelectionSource& out, metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(proxy), cfg, table, selector, out, registry)) {}

SelectionLoop::~SelectionLoop() { stop(); }

void SelectionLoop::start() {
    asio::co_spawn(impl_->io, impl_->run(), asio::detached);
    asio::co_spawn(impl_->io, impl_->health(), asio::detached);
    impl_->thread = std::thread([this] { impl_->io.run(); });
    std::unique_lock lk(impl_->mu);
    impl_->cv.wait_for(lk, impl_->cfg.stats_timeout * 2 + std::chrono::seconds(1), [&] { return impl_->first_done; });
}

void SelectionLoop::stop() {
    if (!impl_->thread.joinable()) return;
    asio::post(impl_->io, [this] {
        impl_->stopping = true;
        impl_->io.stop();
    });
    impl_->thread.join();
}

void SelectionLoop::trigger() {
    asio::post(impl_->io, [this] { impl_->poke(); });
}

bool SelectionLoop::selected_once() const {
    std::lock_guard lk(impl_->mu);
    return impl_->first_done;
}

SelectionView SelectionLoop::view() const {
    std::lock_guard lk(impl_->mu);
    return impl_->view;
}

}  // namespace herd::proxy

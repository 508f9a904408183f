// The selector plugin: herd's built-in strategies behind the ABI.
//   strategy = { plugin = "selector", name = "random" }
//   strategy = { plugin = "selector", name = "single-most-data", bytes_per_sample = 1.3, margin = 0.05 }
//   strategy = { plugin = "selector", name = "minimum-history", history = "1h" }   # or "minimum-history:1h"
//   strategy = { plugin = "selector", name = "first-ready" }
#include "strategies.hpp"

#include <herd/sdk/json_config.hpp>
#include <herd/sdk/plugin.hpp>

#include <algorithm>
#include <mutex>
#include <random>

namespace herd::selector {
namespace {

// A per-thread generator: pick() runs on many I/O threads at once and must not lock.
size_t random_index(size_t n) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
}

void apply(const Decision& d, std::span<uint8_t> eligible, std::span<double> score) {
    std::copy(d.eligible.begin(), d.eligible.end(), eligible.begin());
    std::copy(d.score.begin(), d.score.end(), score.begin());
}

class Random final : public sdk::Selector {
public:
    explicit Random(const sdk::CreateContext& ctx) { sdk::JsonConfig(ctx.config_json).finish(); }
    uint32_t needs() const noexcept override { return HERD_STAT_READY; }
    void select(std::span<const herd_backend_stats* const> b, std::span<uint8_t> e, std::span<double> s) override {
        apply(random_strategy(b), e, s);
    }
    size_t pick(const herd_request&, std::span<const herd_backend* const> e) noexcept override {
        return random_index(e.size());
    }
};

class SingleMostData final : public sdk::Selector {
public:
    explicit SingleMostData(const sdk::CreateContext& ctx) {
        sdk::JsonConfig cfg(ctx.config_json);
        opts_.bytes_per_sample = cfg.number("bytes_per_sample").value_or(opts_.bytes_per_sample);
        opts_.margin = cfg.number("margin").value_or(opts_.margin);
        cfg.finish();
        if (!(opts_.bytes_per_sample > 0)) throw sdk::ConfigError("bytes_per_sample", "must be positive");
        if (opts_.margin < 0 || opts_.margin >= 1) throw sdk::ConfigError("margin", "must be in [0, 1)");
    }
    uint32_t needs() const noexcept override { return HERD_STAT_READY | HERD_STAT_HEAD_SAMPLES | HERD_STAT_STORAGE_BYTES; }
    void select(std::span<const herd_backend_stats* const> b, std::span<uint8_t> e, std::span<double> s) override {
        auto d = single_most_data(b, opts_, current_);
        for (size_t i = 0; i < b.size(); ++i)
            if (d.eligible[i]) current_.assign(b[i]->backend->id.data, b[i]->backend->id.size);
        apply(d, e, s);
    }
    size_t pick(const herd_request&, std::span<const herd_backend* const>) noexcept override { return 0; }

private:
    MostDataOptions opts_;
    std::string current_;  // select() is never called concurrently with itself
};

class MinimumHistory final : public sdk::Selector {
public:
    explicit MinimumHistory(const sdk::CreateContext& ctx) : host_(ctx.host) {
        sdk::JsonConfig cfg(ctx.config_json);
        auto h = cfg.duration("history");
        cfg.finish();
        if (!h) throw sdk::ConfigError("history", "minimum-history needs history = \"<duration>\", e.g. \"1h\"");
        min_ = *h;
    }
    uint32_t needs() const noexcept override { return HERD_STAT_READY | HERD_STAT_LOWEST_TIMESTAMP; }
    void select(std::span<const herd_backend_stats* const> b, std::span<uint8_t> e, std::span<double> s) override {
        const double now = std::chrono::duration<double>(host_.now().time_since_epoch()).count();
        apply(minimum_history(b, min_, now), e, s);
    }
    size_t pick(const herd_request&, std::span<const herd_backend* const> e) noexcept override {
        return random_index(e.size());
    }

private:
    sdk::Host host_;
    std::chrono::milliseconds min_{};
};

class FirstReady final : public sdk::Selector {
public:
    explicit FirstReady(const sdk::CreateContext& ctx) { sdk::JsonConfig(ctx.config_json).finish(); }
    uint32_t needs() const noexcept override { return HERD_STAT_READY; }
    void select(std::span<const herd_backend_stats* const> b, std::span<uint8_t> e, std::span<double> s) override {
        apply(first_ready(b), e, s);
    }
    size_t pick(const herd_request&, std::span<const herd_backend* const>) noexcept override { return 0; }
};

}  // namespace
}  // namespace herd::selector

HERD_PLUGIN("selector", "0.1.0", "Backend selection strategies for the proxy",
            herd::sdk::factory<herd::selector::Random>("random", "every ready backend, one at random per request"),
            herd::sdk::factory<herd::selector::SingleMostData>(
                "single-most-data", "the one ready backend with the most data (head samples + persisted blocks)"),
            herd::sdk::factory<herd::selector::MinimumHistory>(
                "minimum-history", "ready backends with at least `history` of data, one at random per request"),
            herd::sdk::factory<herd::selector::FirstReady>("first-ready", "the first ready backend in discovery order"))

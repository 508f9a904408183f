// The strategies' decisions, from stats as the host would gather them.
#include "strategies.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <deque>

using namespace herd::selector;
using namespace std::chrono_literals;

namespace {
// Backends with stats, kept alive while the test uses the pointers.
struct Fleet {
    std::deque<std::string> ids;
    std::deque<herd_backend> backends;
    std::deque<herd_backend_stats> stats;
    std::vector<const herd_backend_stats*> ptrs;

    herd_backend_stats& add(const std::string& id, bool ready, uint32_t present = HERD_STAT_READY) {
        ids.push_back(id);
        backends.push_back({});
        backends.back().id = {ids.back().data(), ids.back().size()};
        stats.push_back({});
        auto& s = stats.back();
        s.backend = &backends.back();
        s.present = present | HERD_STAT_READY;
        s.ready = ready;
        ptrs.push_back(&s);
        return s;
    }
    std::span<const herd_backend_stats* const> span() const { return ptrs; }
};
constexpr uint32_t kData = HERD_STAT_HEAD_SAMPLES | HERD_STAT_STORAGE_BYTES;
}  // namespace

TEST_CASE("random: every ready backend", "[selector]") {
    Fleet f;
    f.add("a", true);
    f.add("b", false);
    f.add("c", true);
    CHECK(random_strategy(f.span()).eligible == std::vector<uint8_t>{1, 0, 1});
}

TEST_CASE("single-most-data: the ready backend with the most head + persisted samples", "[selector]") {
    Fleet f;
    auto& a = f.add("a", true, kData);
    a.head_samples = 1000;
    a.storage_bytes = 0;
    auto& b = f.add("b", true, kData);  // restarted: small head, but blocks on disk
    b.head_samples = 100;
    b.storage_bytes = 13000;  // ~10000 samples at 1.3 B/sample
    auto& c = f.add("c", false, kData);  // most data but not ready
    c.head_samples = 1e9;
    auto d = single_most_data(f.span(), {}, "");
    CHECK(d.eligible == std::vector<uint8_t>{0, 1, 0});
    CHECK(d.score[0] == Approx(1000));
    CHECK(d.score[1] == Approx(10100));
}

TEST_CASE("single-most-data keeps its choice while the best beats it by less than the margin", "[selector]") {
    Fleet f;
    auto& a = f.add("a", true, kData);
    a.head_samples = 10000;
    auto& b = f.add("b", true, kData);
    b.head_samples = 10300;  // 3 % more
    CHECK(single_most_data(f.span(), {1.3, 0.05}, "a").eligible == std::vector<uint8_t>{1, 0});
    CHECK(single_most_data(f.span(), {1.3, 0.05}, "").eligible == std::vector<uint8_t>{0, 1});
    b.head_samples = 11000;  // 10 % more: switch
    CHECK(single_most_data(f.span(), {1.3, 0.05}, "a").eligible == std::vector<uint8_t>{0, 1});
}

TEST_CASE("single-most-data: backends without figures are never chosen (mpp crashed on Prometheus 2.x)", "[selector]") {
    Fleet f;
    f.add("a", true);  // /metrics gave nothing usable
    auto d = single_most_data(f.span(), {}, "");
    CHECK(d.eligible == std::vector<uint8_t>{0});
    CHECK(std::isnan(d.score[0]));
}

TEST_CASE("minimum-history: ready backends with enough history", "[selector]") {
    Fleet f;
    const double now = 1'000'000;
    f.add("old", true, HERD_STAT_LOWEST_TIMESTAMP).lowest_timestamp_s = now - 7200;
    f.add("young", true, HERD_STAT_LOWEST_TIMESTAMP).lowest_timestamp_s = now - 60;
    f.add("old-unready", false, HERD_STAT_LOWEST_TIMESTAMP).lowest_timestamp_s = now - 7200;
    f.add("unknown", true);
    auto d = minimum_history(f.span(), 1h, now);
    CHECK(d.eligible == std::vector<uint8_t>{1, 0, 0, 0});
    CHECK(d.score[0] == Approx(7200));
    CHECK(d.score[1] == Approx(60));
}

TEST_CASE("first-ready: active/standby in listed order", "[selector]") {
    Fleet f;
    f.add("primary", false);
    f.add("standby-1", true);
    f.add("standby-2", true);
    CHECK(first_ready(f.span()).eligible == std::vector<uint8_t>{0, 1, 0});
}

TEST_CASE("single-most-data and first-ready pass over a ready backend that keeps failing", "[selector][failover]") {
    // The preferred replica answers /-/ready but its requests fail: the next-best must be chosen,
    // or every request fails (issue: no failover with one eligible backend).
    Fleet f;
    auto& a = f.add("a", true, kData);
    a.head_samples = 5000;
    a.recent_failures = 3;
    auto& b = f.add("b", true, kData);
    b.head_samples = 1000;
    CHECK(single_most_data(f.span(), {}, "a").eligible == std::vector<uint8_t>{0, 1});
    CHECK(first_ready(f.span()).eligible == std::vector<uint8_t>{0, 1});
    // When every ready one has failures, the usual choice stands: something must serve.
    b.recent_failures = 1;
    CHECK(single_most_data(f.span(), {}, "").eligible == std::vector<uint8_t>{1, 0});
    CHECK(first_ready(f.span()).eligible == std::vector<uint8_t>{1, 0});
    // Failures over, the best one is back.
    a.recent_failures = 0;
    b.recent_failures = 0;
    CHECK(single_most_data(f.span(), {}, "b").eligible == std::vector<uint8_t>{1, 0});
}

TEST_CASE("single-most-data: a fresh ready replica with no samples yet is still a choice", "[selector]") {
    // Prometheus has no prometheus_tsdb_head_samples_appended_total series before its first append;
    // the host reports that as 0. A fleet of fresh replicas must not answer 503 meanwhile.
    Fleet f;
    f.add("a", true, kData);
    f.add("b", false, kData);
    CHECK(single_most_data(f.span(), {}, "").eligible == std::vector<uint8_t>{1, 0});
}

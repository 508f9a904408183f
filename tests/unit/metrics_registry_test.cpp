// The metrics registry and its Prometheus text exposition.
#include "metrics/process_metrics.hpp"
#include "metrics/registry.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace herd;
using Catch::Matchers::Contains;

TEST_CASE("families render HELP, TYPE and escaped labels", "[metrics]") {
    metrics::Registry r;
    r.counter("herd_requests_total", "Requests.\nSecond line \\ too.", {"path"}).with({"a\"b\\c\nd"}).add(3);
    r.gauge("herd_up", "Up.").with({}).set(1);
    auto text = r.render();
    CHECK_THAT(text, Contains("# HELP herd_requests_total Requests.\\nSecond line \\\\ too.\n"));
    CHECK_THAT(text, Contains("# TYPE herd_requests_total counter\n"));
    CHECK_THAT(text, Contains("herd_requests_total{path=\"a\\\"b\\\\c\\nd\"} 3\n"));
    CHECK_THAT(text, Contains("# TYPE herd_up gauge\nherd_up 1\n"));
}

TEST_CASE("special values are written as Prometheus expects", "[metrics]") {
    CHECK(metrics::format_value(NAN) == "NaN");
    CHECK(metrics::format_value(INFINITY) == "+Inf");
    CHECK(metrics::format_value(-INFINITY) == "-Inf");
    CHECK(metrics::format_value(42) == "42");
    CHECK(metrics::format_value(0.25) == "0.25");
}

TEST_CASE("names and clashes are checked", "[metrics]") {
    metrics::Registry r;
    CHECK_THROWS_WITH(r.counter("9bad", "x"), Contains("not a valid metric name"));
    CHECK_THROWS_WITH(r.counter("herd_x", "x", {"__reserved"}), Contains("not a valid label name"));
    r.counter("herd_x", "x", {"a"});
    CHECK_NOTHROW(r.counter("herd_x", "x", {"a"}));  // the same definition finds the same family
    CHECK_THROWS_WITH(r.gauge("herd_x", "x", {"a"}), Contains("already registered"));
    CHECK_THROWS_WITH(r.counter("herd_x", "x", {"b"}), Contains("already registered"));
    CHECK_THROWS(r.counter("herd_x", "x", {"a"}).with({"1", "2"}));
}

TEST_CASE("series are stable handles", "[metrics]") {
    metrics::Registry r;
    auto& s = r.counter("herd_c", "c", {"k"}).with({"v"});
    s.add(1);
    r.counter("herd_c", "c", {"k"}).with({"v"}).add(2);
    CHECK(s.value() == 3);
    r.counter("herd_c", "c", {"k"}).remove({"v"});
    CHECK_THAT(r.render(), !Contains("herd_c{"));
}

TEST_CASE("process metrics are read at scrape time", "[metrics]") {
    metrics::Registry r;
    metrics::register_process_metrics(r);
    auto text = r.render();
    CHECK_THAT(text, Contains("process_resident_memory_bytes "));
    CHECK_THAT(text, Contains("process_open_fds "));
    CHECK_THAT(text, Contains("process_start_time_seconds "));
    CHECK_THAT(text, !Contains("process_resident_memory_bytes 0\n"));
}

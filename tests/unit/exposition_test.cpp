// The metrics client's parser: real output of Debian's Prometheus 2.42, and every corner of the
// text format.
#include "metrics_client/exposition.hpp"
#include "proxy/stats_gatherer.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace herd;
using metrics_client::Exposition;
using metrics_client::ParseError;
using Catch::Matchers::Contains;

TEST_CASE("real /metrics of Prometheus 2.42 parses completely", "[metrics-client]") {
    const auto text = test::read_file(test::source_dir() / "tests/data/prometheus-2.42-metrics.txt");
    REQUIRE(text.size() > 10000);
    auto e = Exposition::parse(text);
    size_t lines = 0;
    for (char c : text) lines += c == '\n';
    CHECK(e.samples().size() > 300);
    CHECK(e.families().at("prometheus_tsdb_head_samples_appended_total").type == "counter");
    CHECK_THAT(e.families().at("go_goroutines").help, Contains("goroutines"));
    // The figures strategies read:
    CHECK(e.value("process_start_time_seconds").value() > 1.7e9);
    CHECK(e.value("prometheus_tsdb_head_samples_appended_total", {{"type", "float"}}) == 298);
    CHECK(e.sum("prometheus_tsdb_head_samples_appended_total") == 298);
    CHECK(e.value("prometheus_tsdb_storage_blocks_bytes") == 0);
    CHECK(e.value("prometheus_tsdb_lowest_timestamp_seconds").value() > 1.7e9);
    // Summaries report NaN quantiles before any observation.
    CHECK(std::isnan(e.value("prometheus_engine_query_duration_seconds", {{"quantile", "0.5"}, {"slice", "inner_eval"}}).value()));
    CHECK_FALSE(e.value("no_such_metric"));
}

TEST_CASE("the text format: labels, escapes, special values, timestamps", "[metrics-client]") {
    auto e = Exposition::parse(
        "# HELP m A help with \\\\ and \\n in it.\n"
        "# TYPE m gauge\n"
        "# a plain comment\n"
        "m{a=\"x\",b=\"q\\\"uote\\\\back\\nline\"} 1.5e3 1700000000000\n"
        "m{a=\"y\",} +Inf\n"
        "m{ a = \"z\" } -Inf\n"
        "m_nan NaN\n"
        "\n"
        "   spaced   42   \n"
        "colon:name 7\r\n");
    REQUIRE(e.samples().size() == 6);
    const auto& s = e.samples()[0];
    CHECK(s.labels.at("b") == "q\"uote\\back\nline");
    CHECK(s.value == 1500);
    CHECK(s.timestamp_ms == 1700000000000);
    CHECK(std::isinf(e.value("m", {{"a", "y"}}).value()));
    CHECK(e.value("m", {{"a", "z"}}).value() < 0);
    CHECK(std::isnan(e.value("m_nan").value()));
    CHECK(e.value("spaced") == 42);
    CHECK(e.value("colon:name") == 7);
    CHECK(e.families().at("m").help == "A help with \\ and \n in it.");
    CHECK(e.sum("m", {{"a", "x"}}) == 1500);
}

TEST_CASE("malformed exposition names the line", "[metrics-client]") {
    auto fails = [](const std::string& text, const std::string& what) {
        try {
            Exposition::parse(text);
            FAIL("parsed: " + text);
        } catch (const ParseError& e) {
            CHECK_THAT(e.what(), Contains(what));
        }
    };
    fails("ok 1\n{bad} 1\n", "line 2: expected a metric name");
    fails("m{a=\"x} 1\n", "unterminated label value");
    fails("m{a=\"\\x\"} 1\n", "invalid escape");
    fails("m{a=\"1\",a=\"2\"} 1\n", "duplicate label");
    fails("m{a=1} 1\n", "expected '\"'");
    fails("m one\n", "\"one\" is not a number");
    fails("m 1 soon\n", "not a timestamp");
    fails("m 1 2 3\n", "unexpected text");
    fails("# TYPE m sometype\n", "unknown metric type");
    fails("m\n", "expected a value");
    fails("<html>oops</html>\n", "expected a metric name");
}

TEST_CASE("stats for the strategies come out of /metrics, or say why not", "[metrics-client]") {
    const auto text = test::read_file(test::source_dir() / "tests/data/prometheus-2.42-metrics.txt");
    proxy::BackendStats s;
    proxy::read_prometheus_stats(text, HERD_STAT_HEAD_SAMPLES | HERD_STAT_STORAGE_BYTES | HERD_STAT_LOWEST_TIMESTAMP |
                                           HERD_STAT_START_TIME, s);
    CHECK(s.error.empty());
    CHECK(s.head_samples == 298);
    CHECK((s.present & HERD_STAT_LOWEST_TIMESTAMP) != 0);

    proxy::BackendStats g;
    proxy::read_prometheus_stats("<html>not metrics</html>", HERD_STAT_HEAD_SAMPLES, g);
    CHECK_THAT(g.error, Contains("not Prometheus text format"));
    CHECK((g.present & HERD_STAT_HEAD_SAMPLES) == 0);

    proxy::BackendStats n;
    proxy::read_prometheus_stats("node_load1 0.5\n", HERD_STAT_HEAD_SAMPLES, n);
    CHECK_THAT(n.error, Contains("is this a Prometheus server?"));

    // A fresh Prometheus: the TSDB serves, but no sample was appended yet, so the counter has no
    // series. That is 0 samples (single-most-data may still choose it), not "no figures".
    std::string fresh;
    for (size_t at = 0, next; at < text.size(); at = next + 1) {
        next = text.find('\n', at);
        if (next == std::string::npos) next = text.size();
        auto line = text.substr(at, next - at);
        if (line.find("prometheus_tsdb_head_samples_appended_total") == std::string::npos) fresh += line + "\n";
    }
    proxy::BackendStats f;
    proxy::read_prometheus_stats(fresh, HERD_STAT_HEAD_SAMPLES, f);
    CHECK(f.error.empty());
    CHECK((f.present & HERD_STAT_HEAD_SAMPLES) != 0);
    CHECK(f.head_samples == 0);
}

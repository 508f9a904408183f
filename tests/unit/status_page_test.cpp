// The /status page renders what the host knows, escaped.
#include "admin/status_page.hpp"

#include <catch2/catch.hpp>

using namespace herd;
using Catch::Matchers::Contains;

TEST_CASE("the status page shows instances, plugins and refusals, escaped", "[status]") {
    admin::StatusSnapshot s;
    s.version = "0.1.0";
    s.config_file = "/etc/herd/herd.toml";
    s.started_at = std::chrono::system_clock::now() - std::chrono::seconds(3725);
    s.ready = false;
    s.not_ready_reason = "discovery \"x\" failed";
    s.plugins.push_back({"sd_file", "0.1.0", "1.1", "discovery", "/p/sd_file.so", "Targets", {"discovery sd_file"}});
    s.refusals.push_back({"/p/evil.so", "not a shared object <script>"});
    s.instances.push_back({"discovery", "replicas", "sd_file", "sd_file", "failing", "1 groups, 2 targets, 3 updates",
                           "file.json: bad", std::chrono::system_clock::now(),
                           {{"/sd/a.json:0", {"10.0.0.1:9090", "10.0.0.2:9090"}}}, 5});
    auto html = admin::render_status_page(s);
    CHECK_THAT(html, Contains("herd 0.1.0"));
    CHECK_THAT(html, Contains("not ready"));
    CHECK_THAT(html, Contains("1h2m5s"));
    CHECK_THAT(html, Contains("<b>replicas</b>"));
    CHECK_THAT(html, Contains("file.json: bad"));
    CHECK_THAT(html, Contains("not a shared object &lt;script&gt;"));
    CHECK_THAT(html, !Contains("<script>"));
    CHECK_THAT(html, Contains("/p/sd_file.so"));
    CHECK_THAT(html, Contains("<code>/sd/a.json:0</code></td><td>10.0.0.1:9090, 10.0.0.2:9090"));
    CHECK_THAT(html, Contains("and 5 more"));
}

TEST_CASE("ages read like durations", "[status]") {
    using namespace std::chrono;
    CHECK(admin::format_age(seconds(0)) == "0s");
    CHECK(admin::format_age(seconds(59)) == "59s");
    CHECK(admin::format_age(seconds(60)) == "1m");
    CHECK(admin::format_age(seconds(90061)) == "1d1h1m1s");
}

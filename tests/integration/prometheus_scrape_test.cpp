// A real Prometheus (Debian's package) scrapes herd's /metrics: the exposition must parse.
#include "herd_fixture.hpp"

#include <nlohmann/json.hpp>

using namespace herd;
namespace fs = std::filesystem;

namespace {
std::optional<nlohmann::json> query(uint16_t port, const std::string& encoded) {
    auto r = test::http_get(port, "/api/v1/query?query=" + encoded);
    if (r.status != 200) return std::nullopt;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || j["status"] != "success") return std::nullopt;
    return j["data"]["result"];
}
}  // namespace

TEST_CASE("a real Prometheus scrapes herd's /metrics", "[prometheus]") {
    const fs::path prometheus = "/usr/bin/prometheus";
    REQUIRE(fs::exists(prometheus));  // scripts/install-deps.sh installs Debian's prometheus

    test::HerdRun herd("[[discovery]]\nname = \"r\"\nplugin = \"sd_file\"\ntargets = [\"a:1\"]\n");
    REQUIRE(herd.wait_ready());

    test::TempDir dir;
    const uint16_t prom_port = test::free_port();
    test::write_file(dir / "prometheus.yml", "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                                             "scrape_configs:\n  - job_name: herd\n    static_configs:\n"
                                             "      - targets: ['127.0.0.1:" + std::to_string(herd.port()) + "']\n");
    test::Process prom({prometheus.string(), "--config.file=" + (dir / "prometheus.yml").string(),
                        "--storage.tsdb.path=" + (dir / "data").string(),
                        "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
                       dir.path(), "prometheus");

    // up == 1 only when the scrape succeeded and the text parsed.
    bool scraped = test::eventually([&] {
        auto r = query(prom_port, "up%7Bjob%3D%22herd%22%7D");
        return r && r->size() == 1 && (*r)[0]["value"][1] == "1";
    }, std::chrono::seconds(60));
    INFO(prom.err());
    REQUIRE(scraped);
    auto info = query(prom_port, "herd_build_info");
    REQUIRE(info);
    REQUIRE(info->size() == 1);
    CHECK((*info)[0]["metric"]["abi"] == "1.2");
    auto targets = query(prom_port, "herd_discovery_targets");
    REQUIRE(targets);
    REQUIRE(targets->size() == 1);
    CHECK((*targets)[0]["value"][1] == "1");
    prom.signal(SIGTERM);
    CHECK(prom.wait(std::chrono::seconds(20)));
}

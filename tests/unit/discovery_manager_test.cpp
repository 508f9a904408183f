// The discovery manager: validation, de-duplication, vanishing sources, fan-out.
#include "discovery/manager.hpp"
#include "metrics/registry.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <mutex>

using namespace herd;
using Catch::Matchers::Contains;

namespace {
struct Recorder {
    std::mutex mu;
    std::vector<std::vector<discovery::TargetGroup>> calls;
    discovery::Manager::Callback cb() {
        return [this](const std::string&, const std::vector<discovery::TargetGroup>& g) {
            std::lock_guard lk(mu);
            calls.push_back(g);
        };
    }
};
const char* kOne = R"([{"source":"s1","targets":[{"__address__":"a:1"}],"labels":{"env":"prod"}}])";
}  // namespace

TEST_CASE("parse_groups validates the shape", "[discovery]") {
    CHECK(discovery::parse_groups("[]").empty());
    auto g = discovery::parse_groups(kOne);
    REQUIRE(g.size() == 1);
    CHECK(g[0].source == "s1");
    CHECK(g[0].targets.at(0).at("__address__") == "a:1");
    CHECK(g[0].labels.at("env") == "prod");
    CHECK_THROWS_WITH(discovery::parse_groups("{"), Contains("not valid JSON"));
    CHECK_THROWS_WITH(discovery::parse_groups("{}"), Contains("must be a JSON array"));
    CHECK_THROWS_WITH(discovery::parse_groups(R"([{"targets":[]}])"), Contains("group 0 has no source"));
    CHECK_THROWS_WITH(discovery::parse_groups(R"([{"source":"s","targets":[{"job":"x"}]}])"),
                      Contains("group 0.targets[0] has no __address__"));
    CHECK_THROWS_WITH(discovery::parse_groups(R"([{"source":"s","labels":{"a":1}}])"), Contains("labels.a must be a string"));
}

TEST_CASE("subscribers get the snapshot, then only real changes", "[discovery]") {
    metrics::Registry reg;
    discovery::Manager m(reg);
    m.add_provider("p");
    m.update("p", kOne);
    Recorder rec;
    m.subscribe("p", rec.cb());
    m.flush();
    REQUIRE(rec.calls.size() == 1);
    CHECK(rec.calls[0].size() == 1);  // the snapshot

    m.update("p", kOne);  // same again: nothing to say
    m.flush();
    CHECK(rec.calls.size() == 1);

    m.update("p", R"([{"source":"s2","targets":[{"__address__":"b:1"}]}])");
    m.flush();
    REQUIRE(rec.calls.size() == 2);
    CHECK(rec.calls[1].at(0).source == "s2");
    CHECK(m.groups("p").size() == 2);
    CHECK(m.status("p")->targets == 2);

    m.update("p", R"([{"source":"s1","targets":[]}])");  // s1 vanished
    m.flush();
    REQUIRE(rec.calls.size() == 3);
    CHECK(rec.calls[2].at(0).source == "s1");
    CHECK(rec.calls[2].at(0).targets.empty());
    CHECK(m.groups("p").size() == 1);
}

TEST_CASE("an invalid update is an error of the provider and the last good groups stay", "[discovery]") {
    metrics::Registry reg;
    discovery::Manager m(reg);
    m.add_provider("p");
    m.update("p", kOne);
    m.update("p", "not json");
    auto s = m.status("p");
    REQUIRE(s);
    CHECK(s->state == discovery::ProviderStatus::State::failing);
    CHECK_THAT(s->last_error, Contains("invalid target groups"));
    CHECK(m.groups("p").size() == 1);
    auto text = reg.render();
    CHECK_THAT(text, Contains("herd_discovery_healthy{discovery=\"p\"} 0"));
    CHECK_THAT(text, Contains("herd_discovery_errors_total{discovery=\"p\"} 1"));
    m.update("p", kOne);
    CHECK(m.status("p")->state == discovery::ProviderStatus::State::healthy);
}

TEST_CASE("removing a provider tells subscribers every source vanished", "[discovery]") {
    metrics::Registry reg;
    discovery::Manager m(reg);
    m.add_provider("p");
    m.update("p", kOne);
    Recorder rec;
    m.subscribe("p", rec.cb());
    m.remove_provider("p");
    m.flush();
    REQUIRE(rec.calls.size() == 2);
    CHECK(rec.calls[1].at(0).targets.empty());
    CHECK_FALSE(m.status("p"));
}

TEST_CASE("a subscriber of one provider hears nothing of another", "[discovery]") {
    metrics::Registry reg;
    discovery::Manager m(reg);
    m.add_provider("a");
    m.add_provider("b");
    Recorder rec;
    m.subscribe("a", rec.cb());
    m.update("b", kOne);
    m.flush();
    REQUIRE(rec.calls.size() == 1);  // only a's (empty) snapshot
    CHECK(rec.calls[0].empty());
}

TEST_CASE("file_sd output merges target labels over group labels", "[discovery]") {
    auto g = discovery::parse_groups(
        R"([{"source":"s","targets":[{"__address__":"a:1","env":"dev"}],"labels":{"env":"prod","job":"j"}}])");
    auto out = nlohmann::json::parse(discovery::to_file_sd_json(g));
    CHECK(out == nlohmann::json::parse(R"([{"targets":["a:1"],"labels":{"env":"dev","job":"j"}}])"));
}

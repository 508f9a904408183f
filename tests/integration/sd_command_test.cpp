// `herd sd`: a discovery instance's target groups as Prometheus file_sd JSON.
#include "support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace herd;
using Catch::Matchers::Contains;

namespace {
test::RunResult sd(const test::TempDir& dir, const std::string& name) {
    return test::run({test::herd_binary().string(), "sd", "-c", (dir / "herd.toml").string(), "--discovery", name, "--once"});
}
}  // namespace

TEST_CASE("herd sd prints file_sd JSON with meta labels", "[sd]") {
    test::TempDir dir;
    test::write_file(dir / "sd/a.json", R"([{"targets":["10.0.0.1:9090"],"labels":{"env":"prod"}}])");
    test::write_file(dir / "herd.toml", "[[discovery]]\nname = \"r\"\nplugin = \"sd_file\"\ntargets = [\"10.0.0.2:9090\"]\n"
                                        "files = [\"sd/*.json\"]\nlabels = { job = \"prom\" }\n");
    auto r = sd(dir, "r");
    INFO(r.err);
    CHECK(r.code == 0);
    auto out = nlohmann::json::parse(r.out);
    REQUIRE(out.size() == 2);
    bool file_seen = false, static_seen = false;
    for (const auto& g : out) {
        if (g["targets"][0] == "10.0.0.1:9090") {
            file_seen = true;
            CHECK(g["labels"]["env"] == "prod");
            CHECK(g["labels"]["__meta_filepath"] == (dir / "sd/a.json").string());
        }
        if (g["targets"][0] == "10.0.0.2:9090") {
            static_seen = true;
            CHECK(g["labels"]["job"] == "prom");
        }
    }
    CHECK((file_seen && static_seen));
}

TEST_CASE("herd sd says what is wrong", "[sd]") {
    test::TempDir dir;
    test::write_file(dir / "herd.toml", "[[discovery]]\nname = \"r\"\nplugin = \"sd_file\"\nfiles = [\"sd/*.json\"]\n");
    test::write_file(dir / "sd/bad.json", R"([{"targets":["a:1"], "oops": 1}])");
    auto broken = sd(dir, "r");
    CHECK(broken.code == 1);  // an error and nothing good to show
    CHECK_THAT(broken.err, Contains("unknown field \"oops\""));
    auto missing = sd(dir, "nope");
    CHECK(missing.code == 1);
    CHECK_THAT(missing.err, Contains("no [[discovery]] named \"nope\" (defined: r)"));
}

TEST_CASE("herd sd removes its scratch directory on every way out", "[sd]") {
    test::TempDir dir, tmp;
    test::write_file(dir / "herd.toml", "[[discovery]]\nname = \"r\"\nplugin = \"sd_file\"\ntargets = [\"10.0.0.2:9090\"]\n"
                                        "[[discovery]]\nname = \"bad\"\nplugin = \"sd_file\"\ntargets = [\"no port\"]\n");
    auto with_tmp = [&](const std::string& name) {
        return test::run({"env", "TMPDIR=" + tmp.path().string(), test::herd_binary().string(), "--no-isolation", "sd", "-c",
                          (dir / "herd.toml").string(), "--discovery", name, "--once"});
    };
    auto empty = [&] { return std::filesystem::is_empty(tmp.path()); };
    auto ok = with_tmp("r");
    CHECK(ok.code == 0);
    CHECK(empty());
    auto refused = with_tmp("bad");  // the instance is not created: an early way out
    CHECK(refused.code == 1);
    CHECK(empty());
}

// sd_file's configuration keys.
#include "sd_file_config.hpp"

#include <herd/sdk/error.hpp>

#include <catch2/catch.hpp>

using namespace herd;
using namespace std::chrono_literals;

namespace {
std::string key_of(const std::string& json) {
    try {
        sd_file::parse_config(json, "/etc/herd");
    } catch (const sdk::ConfigError& e) {
        return e.key() + ": " + e.what();
    }
    return "no error";
}
}  // namespace

TEST_CASE("sd_file config: paths resolve against the config directory", "[sd_file]") {
    auto c = sd_file::parse_config(
        R"({"targets":["a:1"],"endpoints_file":"eps.txt","files":["sd/*.json","/abs/x.yml"],
            "labels":{"job":"prom"},"refresh_interval":"30s"})",
        "/etc/herd");
    CHECK(c.targets == std::vector<std::string>{"a:1"});
    CHECK(c.endpoints_file == "/etc/herd/eps.txt");
    CHECK(c.files == std::vector<std::string>{"/etc/herd/sd/*.json", "/abs/x.yml"});
    CHECK(c.labels.at("job") == "prom");
    CHECK(c.refresh_interval == 30s);
}

TEST_CASE("sd_file config: every mistake names its key", "[sd_file]") {
    CHECK(key_of(R"({})") == ": give at least one of targets, endpoints_file or files");
    CHECK(key_of(R"({"targets":["a:1","http://b:2"]})").rfind("targets[1]: ", 0) == 0);
    CHECK(key_of(R"({"targets":"a:1"})") == "targets: must be an array of strings");
    CHECK(key_of(R"({"files":["sd/*/x.json"]})").rfind("files[0]: ", 0) == 0);
    CHECK(key_of(R"({"files":["x.txt"]})").rfind("files[0]: ", 0) == 0);
    CHECK(key_of(R"({"targets":["a:1"],"labels":{"":"x"}})").rfind("labels.: ", 0) == 0);
    CHECK(key_of(R"({"targets":["a:1"],"name_validation_scheme":"legacy","labels":{"bad-name":"x"}})").rfind("labels.bad-name: ", 0) == 0);
    CHECK(key_of(R"({"targets":["a:1"],"name_validation_scheme":"ascii"})").rfind("name_validation_scheme: ", 0) == 0);
    CHECK(key_of(R"({"targets":["a:1"],"refresh_interval":"soon"})").rfind("refresh_interval: ", 0) == 0);
    CHECK(key_of(R"({"targets":["a:1"],"refresh_interval":"1ms"})") == "refresh_interval: must be at least 100ms");
    CHECK(key_of(R"({"targets":["a:1"],"target":["b:1"]})") == "target: unknown key \"target\"");
}

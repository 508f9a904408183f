// `herd plugins [DIR]`: every file, what it provides or why it was refused.
#include "support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace herd;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

TEST_CASE("herd plugins lists the built plugin directory", "[plugins]") {
    auto r = test::run({test::herd_binary().string(), "plugins"});
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains("sd_file.so") && Contains("sd_file 0.1.0  ABI 1.2  discovery"));
}

TEST_CASE("herd plugins explains every fixture, and survives the crashing one", "[plugins][isolation]") {
    auto r = test::run({test::herd_binary().string(), "plugins", test::fixture_dir().string(), "--json"});
    CHECK(r.code == 1);  // some were refused; herd itself did not crash
    auto rows = nlohmann::json::parse(r.out);
    std::map<std::string, nlohmann::json> by_file;
    for (const auto& row : rows) by_file[row["file"]] = row;

    CHECK(by_file["old_minor.so"]["status"] == "loaded");
    CHECK(by_file["old_minor.so"]["abi"] == "1.0");
    CHECK(by_file["clash_a.so"]["status"] == "loaded");
    CHECK(by_file["clash_b.so"]["status"] == "loaded");
    CHECK(by_file["throwing_create.so"]["status"] == "loaded");  // it only throws when created
    auto reason = [&](const std::string& f) {
        CHECK(by_file[f]["status"] == "refused");
        return by_file[f].value("reason", std::string());
    };
    CHECK_THAT(reason("future_minor.so"), Contains("newer than this herd's ABI"));
    CHECK_THAT(reason("wrong_major.so"), Contains("major version must match"));
    CHECK_THAT(reason("no_entry.so"), Contains("does not export herd_plugin_entry"));
    CHECK_THAT(reason("not_elf.so"), Contains("not a shared object"));
    CHECK_THAT(reason("null_descriptor.so"), Contains("returned no descriptor"));
    CHECK_THAT(reason("crash_entry.so"), Contains("crashed while loading") || Contains("gave no answer"));
}

TEST_CASE("herd plugins prints a readable table too", "[plugins]") {
    auto r = test::run({test::herd_binary().string(), "plugins", test::fixture_dir().string()});
    CHECK_THAT(r.out, Contains("plugins in " + test::fixture_dir().string()));
    CHECK_THAT(r.out, Contains("not_elf.so") && Contains("refused: not a shared object"));
    CHECK_THAT(r.out, Contains("old_minor 1.0.0  ABI 1.0  discovery"));
}

TEST_CASE("herd plugins on a missing directory", "[plugins]") {
    auto r = test::run({test::herd_binary().string(), "plugins", "/nonexistent"});
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("/nonexistent is not a directory"));
}

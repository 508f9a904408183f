// `herd kv`: the configured KV store from the command line.
#include "support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>

using namespace herd;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {
struct KvCli {
    test::TempDir dir;
    KvCli() {
        test::write_file(dir / "herd.toml", "[host]\ndata_dir = \"data\"\n[[kv]]\nname = \"local\"\nplugin = \"kv_sqlite\"\n");
    }
    std::vector<std::string> argv(std::vector<std::string> rest) const {
        std::vector<std::string> a{test::herd_binary().string(), "kv", "-c", (dir / "herd.toml").string(), "--kv", "local"};
        a.insert(a.end(), rest.begin(), rest.end());
        return a;
    }
    test::RunResult operator()(std::vector<std::string> rest) const { return test::run(argv(std::move(rest))); }
};
}  // namespace

TEST_CASE("herd kv: put, get, list, del, with CAS and clear failures", "[kv-cli]") {
    KvCli kv;
    auto p1 = kv({"put", "app/a", "hello"});
    REQUIRE(p1.code == 0);
    const long long rev = std::stoll(p1.out);
    CHECK(kv({"get", "app/a"}).out == "hello\n");
    auto j = nlohmann::json::parse(kv({"get", "app/a", "--json"}).out);
    CHECK(j["mod_revision"] == rev);

    auto conflict = kv({"put", "app/a", "x", "--expect", "absent"});
    CHECK(conflict.code == 3);
    CHECK_THAT(conflict.err, Contains("kv \"local\": key \"app/a\": expected absent, found at revision " + std::to_string(rev)));
    CHECK(kv({"put", "app/a", "bye", "--expect", std::to_string(rev)}).code == 0);
    CHECK(kv({"put", "app/b", "2"}).code == 0);

    auto list = kv({"list", "app/"});
    CHECK(list.code == 0);
    CHECK(std::count(list.out.begin(), list.out.end(), '\n') == 2);
    CHECK_THAT(list.out, Contains("\"value\":\"bye\""));

    CHECK(kv({"del", "app/a"}).code == 0);
    auto missing = kv({"get", "app/a"});
    CHECK(missing.code == 1);
    CHECK_THAT(missing.err, Contains("key \"app/a\" does not exist"));
    CHECK(kv({"put", "app/a", "x", "--expect", "soon"}).code != 0);
    auto no_kv = test::run({test::herd_binary().string(), "kv", "-c", (kv.dir / "herd.toml").string(), "--kv", "nope", "get", "x"});
    CHECK(no_kv.code == 1);
    CHECK_THAT(no_kv.err, Contains("no [[kv]] named \"nope\" (defined: local)"));
}

TEST_CASE("herd kv watch prints every change from now on", "[kv-cli]") {
    KvCli kv;
    REQUIRE(kv({"put", "w/old", "before"}).code == 0);
    test::Process watch(kv.argv({"watch", "w/"}), kv.dir.path(), "watch");
    // The watch starts at "now"; until it runs, a put may come before it: write until one shows up.
    REQUIRE(test::eventually([&] {
        kv({"put", "w/probe", "x"});
        return watch.out().find("w/probe") != std::string::npos;
    }));
    REQUIRE(kv({"del", "w/probe"}).code == 0);
    REQUIRE(test::eventually([&] { return watch.out().find("\"type\":\"delete\"") != std::string::npos; }));
    CHECK(watch.out().find("w/old") == std::string::npos);  // history before the watch is not replayed
    watch.signal(SIGINT);
    CHECK(watch.wait(std::chrono::seconds(10)) == 0);
}

TEST_CASE("herd kv watch --from first replays what the store retains, --from REV what came after REV", "[kv-cli]") {
    KvCli kv;
    auto lines = [](const test::Process& p) {
        const auto o = p.out();
        return std::count(o.begin(), o.end(), '\n');
    };
    const long long r1 = std::stoll(kv({"put", "h/a", "1"}).out);
    REQUIRE(kv({"put", "h/b", "2"}).code == 0);
    REQUIRE(kv({"del", "h/a"}).code == 0);
    test::Process first(kv.argv({"watch", "h/", "--from", "first"}), kv.dir.path(), "first");
    REQUIRE(test::eventually([&] { return lines(first) == 3; }));
    const auto out = first.out();
    CHECK(out.find("\"key\":\"h/a\"") < out.find("\"key\":\"h/b\""));  // in revision order
    CHECK_THAT(out, Contains("\"type\":\"delete\""));
    first.signal(SIGINT);
    CHECK(first.wait(std::chrono::seconds(10)) == 0);

    test::Process after(kv.argv({"watch", "h/", "--from", std::to_string(r1)}), kv.dir.path(), "after");
    REQUIRE(test::eventually([&] { return lines(after) == 2; }));
    CHECK(after.out().find("\"value\":\"1\"") == std::string::npos);  // r1 itself is not repeated
    after.signal(SIGINT);
    CHECK(after.wait(std::chrono::seconds(10)) == 0);

    auto bad = kv({"watch", "h/", "--from", "yesterday"});
    CHECK(bad.code == 2);
    CHECK_THAT(bad.err, Contains("--from \"yesterday\": now, first or a revision"));
}

TEST_CASE("herd kv without --kv: the only [[kv]], or the embedded store when the file has none", "[kv-cli]") {
    test::TempDir dir;
    // No [[kv]] at all: the embedded kv_sqlite store, in data_dir, shared by every herd process.
    test::write_file(dir / "herd.toml", "[host]\ndata_dir = \"data\"\n");
    auto herd_kv = [&](std::vector<std::string> rest) {
        std::vector<std::string> a{test::herd_binary().string(), "kv", "-c", (dir / "herd.toml").string()};
        a.insert(a.end(), rest.begin(), rest.end());
        return test::run(a);
    };
    REQUIRE(herd_kv({"put", "k", "embedded"}).code == 0);
    CHECK(herd_kv({"get", "k"}).out == "embedded\n");
    bool file_in_data_dir = false;
    for (auto& e : fs::recursive_directory_iterator(dir / "data"))
        if (e.path().filename() == "kv.sqlite") file_in_data_dir = true;
    CHECK(file_in_data_dir);

    // Two [[kv]]: which one is ambiguous, and herd says so.
    test::write_file(dir / "herd.toml", "[host]\ndata_dir = \"data\"\n[[kv]]\nname = \"a\"\nplugin = \"kv_sqlite\"\n"
                                         "[[kv]]\nname = \"b\"\nplugin = \"kv_sqlite\"\npath = \"b.sqlite\"\n");
    auto two = herd_kv({"get", "k"});
    CHECK(two.code == 1);
    CHECK_THAT(two.err, Contains("several [[kv]] (a, b)") && Contains("--kv"));
}

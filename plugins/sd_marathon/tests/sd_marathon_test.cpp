// sd_marathon as herd runs it, against the Marathon double: failover between servers, vanished
// apps, every way to authenticate (DC/OS login with an RS256 JWT included), and bad answers.
#include "dcos_auth.hpp"
#include "discovery_fixture.hpp"
#include "marathon_double.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace herd;
using Catch::Matchers::Contains;
using nlohmann::json;
using test::MarathonDouble;
using test::RunningDiscovery;
using Addresses = std::set<std::string>;

namespace {

json app(const std::string& id, const std::string& host, int port) {
    json task{{"id", id.substr(1) + ".1"}, {"host", host}, {"ports", json::array({port})}, {"state", "TASK_RUNNING"}};
    return {{"id", id}, {"container", {{"docker", {{"image", "prom"}}}}}, {"tasks", json::array({task})}};
}

}  // namespace

TEST_CASE("sd_marathon: apps become groups, a vanished app an empty one, a dead server is failed over", "[sd_marathon]") {
    MarathonDouble m;
    m.set_apps({app("/prom-a", "10.0.0.1", 31000), app("/prom-b", "10.0.0.2", 31001)});
    test::TempDir dir;
    const std::string dead = "http://127.0.0.1:" + std::to_string(test::free_port());
    RunningDiscovery sd("sd_marathon", R"({"servers": [")" + dead + R"(", ")" + m.url() + R"("], "refresh_interval": "100ms", "timeout": "1s"})", dir.path());
    REQUIRE(test::eventually([&] { return sd.addresses() == Addresses{"10.0.0.1:31000", "10.0.0.2:31001"}; }));
    auto groups = sd.groups();
    CHECK(groups.size() == 2);
    m.set_apps({app("/prom-b", "10.0.0.2", 31001)});
    REQUIRE(test::eventually([&] { return sd.addresses() == Addresses{"10.0.0.2:31001"}; }));
    CHECK_FALSE(sd.failing());

    // Only named apps, as mpp configures one app.
    RunningDiscovery one("sd_marathon", R"({"servers": [")" + m.url() + R"("], "apps": ["/prom-c"], "refresh_interval": "100ms"})", dir.path(), "one");
    m.set_apps({app("/prom-b", "10.0.0.2", 31001), app("/prom-c", "10.0.0.3", 31002)});
    REQUIRE(test::eventually([&] { return one.addresses() == Addresses{"10.0.0.3:31002"}; }));
}

TEST_CASE("sd_marathon: token, token file and basic auth, a wrong one is a clear error", "[sd_marathon]") {
    MarathonDouble::Options o;
    o.token = "s3cret";
    MarathonDouble m(o);
    m.set_apps({app("/a", "h", 1)});
    test::TempDir dir;
    test::write_file(dir / "token", "s3cret\n");
    RunningDiscovery file("sd_marathon", R"({"servers": [")" + m.url() + R"("], "auth_token_file": "token"})", dir.path(), "file");
    REQUIRE(test::eventually([&] { return file.addresses() == Addresses{"h:1"}; }));
    RunningDiscovery wrong("sd_marathon", R"({"servers": [")" + m.url() + R"("], "auth_token": "nope", "refresh_interval": "100ms"})", dir.path(), "wrong");
    REQUIRE(test::eventually([&] { return wrong.failing(); }));
    CHECK_THAT(wrong.last_error(), Contains("401") && Contains(m.url()));

    MarathonDouble::Options b;
    b.username = "ops";
    b.password = "pw";
    MarathonDouble basic(b);
    basic.set_apps({app("/b", "h", 2)});
    RunningDiscovery sd("sd_marathon", R"({"servers": [")" + basic.url() + R"("], "basic_auth": {"username": "ops", "password": "pw"}})", dir.path(), "basic");
    REQUIRE(test::eventually([&] { return sd.addresses() == Addresses{"h:2"}; }));
}

TEST_CASE("sd_marathon: DC/OS service account: RS256 JWT login, and a new login after a 401", "[sd_marathon]") {
    test::TempDir dir;
    REQUIRE(test::run({"bash", "-ec", "cd " + dir.path().string() +
                                          " && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem 2>/dev/null"
                                          " && openssl pkey -in key.pem -pubout -out pub.pem"}).code == 0);
    MarathonDouble::Options o;
    o.dcos_uid = "herd-sa";
    o.dcos_public_key_pem = test::read_file(dir / "pub.pem");
    MarathonDouble m(o);
    m.set_apps({app("/a", "h", 1)});
    test::write_file(dir / "creds.json", json{{"uid", "herd-sa"}, {"login_endpoint", m.login_endpoint()},
                                              {"private_key", test::read_file(dir / "key.pem")}}.dump());
    RunningDiscovery sd("sd_marathon", R"({"servers": [")" + m.url() + R"("], "dcos_credentials_file": "creds.json", "refresh_interval": "100ms"})", dir.path());
    REQUIRE(test::eventually([&] { return sd.addresses() == Addresses{"h:1"}; }));
    CHECK(m.logins() == 1);
    m.expire_login_tokens();  // the token runs out: 401, log in again, go on
    m.set_apps({app("/a", "h", 1), app("/b", "h", 2)});
    REQUIRE(test::eventually([&] { return sd.addresses() == Addresses{"h:1", "h:2"}; }));
    CHECK(m.logins() == 2);
    CHECK_FALSE(sd.failing());

    // A key of another account: the login is refused, and herd says so.
    REQUIRE(test::run({"bash", "-ec", "cd " + dir.path().string() + " && openssl genpkey -algorithm RSA -out other.pem 2>/dev/null"}).code == 0);
    test::write_file(dir / "other.json", json{{"uid", "herd-sa"}, {"login_endpoint", m.login_endpoint()},
                                              {"private_key", test::read_file(dir / "other.pem")}}.dump());
    RunningDiscovery other("sd_marathon", R"({"servers": [")" + m.url() + R"("], "dcos_credentials_file": "other.json"})", dir.path(), "other");
    REQUIRE(test::eventually([&] { return other.failing(); }));
    CHECK_THAT(other.last_error(), Contains("DC/OS login as \"herd-sa\"") && Contains("401"));
}

TEST_CASE("sd_marathon: malformed answers keep the last good groups, configuration errors name the key", "[sd_marathon]") {
    MarathonDouble m;
    m.set_apps({app("/a", "h", 1)});
    test::TempDir dir;
    RunningDiscovery sd("sd_marathon", R"({"servers": [")" + m.url() + R"("], "refresh_interval": "100ms"})", dir.path());
    REQUIRE(test::eventually([&] { return sd.addresses() == Addresses{"h:1"}; }));
    m.malformed_next();
    REQUIRE(test::eventually([&] { return sd.failing(); }));
    CHECK_THAT(sd.last_error(), Contains("malformed"));
    CHECK(sd.addresses() == Addresses{"h:1"});
    REQUIRE(test::eventually([&] { return !sd.failing(); }));

    metrics::Registry reg;
    plugins::PluginRegistry plugins(reg, false);
    auto r = plugins.load(test::plugin_dir() / "sd_marathon.so");
    REQUIRE(r.plugin);
    auto create = [&](const std::string& cfg) {
        plugins::CreateError err;
        auto inst = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "m", cfg, dir.path(), dir.path(), &err);
        CHECK_FALSE(inst);
        return err.key + ": " + err.message;
    };
    test::write_file(dir / "bad.json", R"({"uid": "x", "login_endpoint": "http://l", "private_key": "not a key"})");
    CHECK_THAT(create("{}"), Contains("servers"));
    CHECK_THAT(create(R"({"servers": ["m:8080"]})"), Contains("servers[0]"));
    CHECK_THAT(create(R"({"servers": ["http://m"], "auth_token": "a", "basic_auth": {"username": "u", "password": "p"}})"), Contains("one of"));
    CHECK_THAT(create(R"({"servers": ["http://m"], "dcos_credentials_file": "bad.json"})"), Contains("RSA private key"));
    CHECK_THAT(create(R"({"servers": ["http://m"], "refresh": "1s"})"), Contains("refresh"));
}

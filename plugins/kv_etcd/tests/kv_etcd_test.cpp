// kv_etcd against a real etcd (Debian's etcd-server), started on free loopback ports: what the
// KV conformance suite (tests/kv) does not cover — compaction, failover, TLS, authentication.
#include "etcd_server.hpp"
#include "kv_fixture.hpp"
#include "support.hpp"
#include "tls.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <thread>

using namespace herd;
using Catch::Matchers::Contains;
using test::Kv;
using test::Watcher;
namespace fs = std::filesystem;

using Etcd = test::EtcdServer;

TEST_CASE("kv_etcd: a watch from a compacted revision is reset", "[kv][etcd]") {
    Etcd etcd;
    test::TempDir dir;
    Kv kv(dir.path(), etcd.config(), "kv_etcd");
    for (int i = 0; i < 10; ++i) kv.put("h/" + std::to_string(i), "v");
    const int64_t last = kv.put("h/x", "v").revision;
    auto r = test::run({"curl", "-fs", "-X", "POST", etcd.url() + "/v3/kv/compaction", "-d",
                        "{\"revision\":\"" + std::to_string(last) + "\",\"physical\":true}"});
    REQUIRE(r.code == 0);
    Watcher w(kv, "h/", 1);
    REQUIRE(test::eventually([&] {
        std::lock_guard lk(w.mu);
        return !w.resets.empty();
    }));
    const int64_t after = kv.put("h/new", "v").revision;
    REQUIRE(test::eventually([&] { return w.count() >= 1; }));
    std::lock_guard lk(w.mu);
    CHECK(std::get<2>(w.events.back()) == after);
}

TEST_CASE("kv_etcd: leases, and errors that name the endpoint", "[kv][etcd]") {
    Etcd etcd;
    test::TempDir dir;
    Kv kv(dir.path(), etcd.config(), "kv_etcd");
    plugins::ErrorCapture err;
    int64_t lease = 0;
    REQUIRE(kv.ops->lease_grant(kv.inst->handle(), 30000, &lease, err.get()) == HERD_OK);
    REQUIRE(kv.put("eph/a", "1", HERD_KV_EXPECT_ANY, lease).status == HERD_OK);
    CHECK(kv.ops->lease_keepalive(kv.inst->handle(), lease, err.get()) == HERD_OK);
    REQUIRE(kv.ops->lease_revoke(kv.inst->handle(), lease, err.get()) == HERD_OK);
    CHECK_FALSE(kv.get("eph/a"));
    CHECK(kv.ops->lease_keepalive(kv.inst->handle(), lease, err.get()) == HERD_ERR_NOT_FOUND);
    CHECK(kv.put("eph/b", "1", HERD_KV_EXPECT_ANY, lease).status == HERD_ERR_NOT_FOUND);

    // Unreachable endpoints: a clear error within the timeout, never a hang.
    const uint16_t closed = test::free_port();
    Kv down(dir.path(), R"({"endpoints": ["http://127.0.0.1:)" + std::to_string(closed) + R"("], "timeout": "1s"})", "kv_etcd");
    auto start = std::chrono::steady_clock::now();
    auto r = down.put("k", "v");
    CHECK(r.status == HERD_ERR_UNAVAILABLE);
    CHECK_THAT(r.message, Contains("no etcd endpoint answered") && Contains(std::to_string(closed)));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

    // A dead endpoint first, a live one second: failover.
    Kv failover(dir.path(), R"({"endpoints": ["http://127.0.0.1:)" + std::to_string(closed) + R"(", ")" + etcd.url() +
                                R"("], "timeout": "1s"})", "kv_etcd");
    CHECK(failover.put("fo", "1").status == HERD_OK);
}

TEST_CASE("kv_etcd on kept-alive connections: a silent endpoint times out, a restarted one is reconnected", "[kv][etcd]") {
    // An endpoint that accepts connections (the kernel's backlog) and never answers.
    const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(silent, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len);
    const std::string port = std::to_string(ntohs(a.sin_port));
    test::TempDir dir;
    Kv mute(dir.path(), R"({"endpoints": ["http://127.0.0.1:)" + port + R"("], "timeout": "1s"})", "kv_etcd");
    const auto t0 = std::chrono::steady_clock::now();
    auto r = mute.put("k", "v");
    CHECK(r.status == HERD_ERR_UNAVAILABLE);  // every endpoint timed out
    CHECK_THAT(r.message, Contains("127.0.0.1:" + port) && Contains("no answer within 1000 ms") && Contains("\"k\""));
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
    ::close(silent);

    // The server restarts between two calls: the idle connection it closed is replaced, the
    // call succeeds (nothing of it had reached the old server).
    Etcd etcd;
    Kv kv(dir.path(), etcd.config(), "kv_etcd");
    REQUIRE(kv.put("a", "1").status == HERD_OK);
    etcd.stop();
    etcd.start();
    auto again = kv.put("a", "2");
    INFO(again.message);
    CHECK(again.status == HERD_OK);
    CHECK(kv.get("a")->first == "2");
}

TEST_CASE("kv_etcd over TLS with client certificates: a wrong CA is a clear error", "[kv][etcd][tls]") {
    test::TempDir dir;
    const auto d = dir.path().string();
    test::make_pki(dir.path());
    const uint16_t client = test::free_port(), peer = test::free_port();
    const std::string url = "https://127.0.0.1:" + std::to_string(client);
    test::Process etcd({"/usr/bin/etcd", "--name", "t", "--data-dir", d + "/data", "--listen-client-urls", url,
                        "--advertise-client-urls", url, "--listen-peer-urls", "http://127.0.0.1:" + std::to_string(peer),
                        "--initial-advertise-peer-urls", "http://127.0.0.1:" + std::to_string(peer), "--initial-cluster",
                        "t=http://127.0.0.1:" + std::to_string(peer), "--cert-file", d + "/server.crt", "--key-file",
                        d + "/server.key", "--client-cert-auth", "--trusted-ca-file", d + "/ca.crt"},
                       dir.path(), "etcd");
    REQUIRE(test::eventually([&] {
        return test::run({"curl", "-fs", "--cacert", d + "/ca.crt", "--cert", d + "/client.crt", "--key", d + "/client.key",
                          url + "/health"})
                   .out.find("true") != std::string::npos;
    }, std::chrono::seconds(30)));

    auto config = [&](const std::string& ca, bool with_cert) {
        std::string c = R"({"endpoints": [")" + url + R"("], "timeout": "3s", "ca_file": ")" + d + "/" + ca + "\"";
        if (with_cert) c += R"(, "cert_file": ")" + d + R"(/client.crt", "key_file": ")" + d + R"(/client.key")";
        return c + "}";
    };
    Kv good(dir.path(), config("ca.crt", true), "kv_etcd");
    REQUIRE(good.put("tls/k", "v").status == HERD_OK);
    CHECK(good.get("tls/k")->first == "v");

    Kv wrong_ca(dir.path(), config("other.crt", true), "kv_etcd");
    auto r = wrong_ca.put("tls/k", "x");
    CHECK(r.status == HERD_ERR_UNAVAILABLE);
    CHECK_THAT(r.message, Contains(url) && (Contains("certificate") || Contains("SSL")));

    Kv no_cert(dir.path(), config("ca.crt", false), "kv_etcd");
    CHECK(no_cert.put("tls/k", "x").status != HERD_OK);  // the server demands a client certificate
    CHECK(good.get("tls/k")->first == "v");               // nothing was written by the refused ones
}

TEST_CASE("kv_etcd with username and password: wrong or missing credentials are permission errors", "[kv][etcd][auth]") {
    Etcd etcd;
    for (const std::string call : {R"(/v3/auth/user/add {"name":"root","password":"rootpw"})", R"(/v3/auth/role/add {"name":"root"})",
                                    R"(/v3/auth/user/grant {"user":"root","role":"root"})", R"(/v3/auth/enable {})"}) {
        const auto space = call.find(' ');
        REQUIRE(test::run({"curl", "-fs", "-X", "POST", etcd.url() + call.substr(0, space), "-d", call.substr(space + 1)}).code == 0);
    }
    test::TempDir dir;
    Kv kv(dir.path(), etcd.config(R"(, "username": "root", "password": "rootpw")"), "kv_etcd");
    REQUIRE(kv.put("auth/k", "v").status == HERD_OK);
    CHECK(kv.get("auth/k")->first == "v");

    Kv wrong(dir.path(), etcd.config(R"(, "username": "root", "password": "nope")"), "kv_etcd");
    auto r = wrong.put("auth/k", "x");
    CHECK(r.status == HERD_ERR_PERMISSION);
    CHECK_THAT(r.message, Contains("authentication as \"root\" failed"));

    Kv anonymous(dir.path(), etcd.config(), "kv_etcd");
    CHECK(anonymous.put("auth/k", "x").status == HERD_ERR_PERMISSION);
    CHECK(kv.get("auth/k")->first == "v");
}

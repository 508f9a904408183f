// The proxy pipeline end to end, in front of real Prometheus replicas from Debian's package.
#include "herd_fixture.hpp"
#include "http_client.hpp"
#include "metrics_client/exposition.hpp"
#include "prometheus.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

using namespace herd;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::string discovery(const std::string& name, const std::vector<std::string>& targets) {
    std::string t;
    for (const auto& a : targets) t += (t.empty() ? "\"" : ", \"") + a + "\"";
    return "[[discovery]]\nname = \"" + name + "\"\nplugin = \"sd_file\"\ntargets = [" + t + "]\n\n";
}

std::string proxy(const std::string& name, uint16_t port, const std::string& backends, const std::string& strategy,
                  const std::string& extra = "") {
    return "[[proxy]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\nbackends = [\"" +
           backends + "\"]\nstrategy = " + strategy + "\nthreads = 2\n" + extra + "\n";
}

std::string backend_of(const test::HttpResponse& r) {
    auto it = r.headers.find("x-herd-backend");
    return it == r.headers.end() ? "" : it->second;
}

// The eligible backends of one proxy, from herd's metrics.
bool eligible(const test::HerdRun& herd, const std::string& proxy_name, const std::string& backend_id) {
    return herd.metric("herd_proxy_backend_eligible{proxy=\"" + proxy_name + "\",backend=\"" + backend_id + "\"}") == 1;
}

}  // namespace

TEST_CASE("each strategy picks what it should", "[proxy][prometheus]") {
    test::PrometheusReplica old_replica("old");
    REQUIRE(old_replica.wait_ready());
    // The old replica gathers 20 s of history before the young one starts.
    REQUIRE(test::eventually([&] { return old_replica.history_seconds().value_or(0) >= 20; }, std::chrono::seconds(90)));
    test::PrometheusReplica young("young");
    REQUIRE(young.wait_ready());
    REQUIRE(test::eventually([&] { return young.history_seconds().has_value(); }));

    const uint16_t most = test::free_port(), history = test::free_port(), random = test::free_port(),
                   first = test::free_port();
    // The young replica is listed first: first-ready must take it, single-most-data must not.
    test::HerdRun herd(discovery("replicas", {young.address(), old_replica.address()}) +
                       proxy("most", most, "replicas", R"({ plugin = "selector", name = "single-most-data", interval = "1s" })") +
                       proxy("history", history, "replicas",
                             R"({ plugin = "selector", name = "minimum-history:15s", interval = "1s" })") +
                       proxy("random", random, "replicas", R"({ plugin = "selector", name = "random", interval = "1s" })") +
                       proxy("first", first, "replicas", R"({ plugin = "selector", name = "first-ready", interval = "1s" })"));
    REQUIRE(herd.wait_ready());
    INFO(herd.process().err());

    test::HttpConnection c_most(most), c_history(history), c_random(random), c_first(first);
    std::set<std::string> seen_most, seen_history, seen_random, seen_first;
    for (int i = 0; i < 60; ++i) {
        auto a = c_most.get("/api/v1/query?query=up"), b = c_history.get("/api/v1/query?query=up"),
             c = c_random.get("/api/v1/query?query=up"), d = c_first.get("/api/v1/query?query=up");
        REQUIRE((a.status == 200 && b.status == 200 && c.status == 200 && d.status == 200));
        seen_most.insert(backend_of(a));
        seen_history.insert(backend_of(b));
        seen_random.insert(backend_of(c));
        seen_first.insert(backend_of(d));
    }
    CHECK(seen_most == std::set<std::string>{old_replica.id()});
    CHECK(seen_first == std::set<std::string>{young.id()});
    CHECK(seen_random == std::set<std::string>{old_replica.id(), young.id()});
    // minimum-history: only the old replica has 15 s of data — as long as the young one has not
    // reached 15 s itself, which a very loaded machine can make happen before this point.
    CHECK(eligible(herd, "history", old_replica.id()));
    if (young.history_seconds().value_or(0) < 14) {
        CHECK(seen_history == std::set<std::string>{old_replica.id()});
        CHECK_FALSE(eligible(herd, "history", young.id()));
    } else {
        WARN("the young replica reached 15 s of history before the check: minimum-history's exclusion not checked");
    }

    // The status page shows each proxy's choice and comparison values.
    auto status = herd.get("/status").body;
    CHECK_THAT(status, Contains("proxy <b>most</b>") && Contains("selector/single-most-data") && Contains(old_replica.id()));
}

TEST_CASE("affinity keeps a client on one replica: a cookie for an ineligible backend is ignored",
          "[proxy][prometheus][affinity]") {
    test::PrometheusReplica a("a"), b("b");
    REQUIRE((a.wait_ready() && b.wait_ready()));
    const uint16_t by_cookie = test::free_port(), by_ip = test::free_port(), standby = test::free_port();
    test::HerdRun herd(
        discovery("replicas", {a.address(), b.address()}) +
        proxy("cookie", by_cookie, "replicas", R"({ plugin = "selector", name = "random", interval = "1s" })",
              R"(affinity = [{ plugin = "affinity", name = "cookie", cookie = "route" }])") +
        proxy("ip", by_ip, "replicas", R"({ plugin = "selector", name = "random", interval = "1s" })",
              R"(affinity = [{ plugin = "affinity", name = "sourceip" }])") +
        proxy("standby", standby, "replicas", R"({ plugin = "selector", name = "first-ready", interval = "1s" })",
              R"(affinity = [{ plugin = "affinity", name = "cookie", cookie = "route" }])"));
    REQUIRE(herd.wait_ready());
    REQUIRE(test::eventually([&] {
        return herd.metric("herd_proxy_eligible_backends{proxy=\"cookie\"}") == 2 &&
               herd.metric("herd_proxy_eligible_backends{proxy=\"ip\"}") == 2;
    }));

    // Cookie: the first answer sets it; every later request that carries it lands on the same replica.
    test::HttpConnection c(by_cookie);
    auto first = c.get("/api/v1/query?query=up");
    REQUIRE(first.status == 200);
    const std::string set_cookie = first.headers["set-cookie"];
    REQUIRE_THAT(set_cookie, Contains("route=") && Contains("HttpOnly") && Contains("Path=/"));
    const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
    for (int i = 0; i < 40; ++i) {
        auto r = c.get("/api/v1/query?query=up", {{"Cookie", cookie}});
        REQUIRE(r.status == 200);
        CHECK(backend_of(r) == backend_of(first));
        CHECK(r.headers.count("set-cookie") == 0);  // already right: not set again
    }
    CHECK(herd.metric("herd_proxy_affinity_hits_total{proxy=\"cookie\",module=\"cookie\"}") >= 40);

    // Source IP: no cookie, yet the same replica every time.
    test::HttpConnection ip(by_ip);
    std::set<std::string> seen;
    for (int i = 0; i < 40; ++i) seen.insert(backend_of(ip.get("/api/v1/query?query=up")));
    CHECK(seen.size() == 1);

    // A cookie naming a backend that is no longer eligible: ignored, and the client is moved.
    test::HttpConnection s(standby);
    auto on_a = s.get("/api/v1/query?query=up");
    REQUIRE(backend_of(on_a) == a.id());  // first-ready: a is listed first
    const std::string a_cookie = on_a.headers["set-cookie"].substr(0, on_a.headers["set-cookie"].find(';'));
    a.kill();
    REQUIRE(test::eventually([&] { return eligible(herd, "standby", b.id()); }));
    auto moved = s.get("/api/v1/query?query=up", {{"Cookie", a_cookie}});
    CHECK(moved.status == 200);
    CHECK(backend_of(moved) == b.id());
    CHECK_THAT(moved.headers["set-cookie"], Contains("route="));
    CHECK(moved.headers["set-cookie"].substr(0, moved.headers["set-cookie"].find(';')) != a_cookie);
}

TEST_CASE("killing the selected replica under steady load fails no request", "[proxy][prometheus][failover]") {
    test::PrometheusReplica a("a"), b("b");
    REQUIRE((a.wait_ready() && b.wait_ready()));
    const uint16_t port = test::free_port();
    test::HerdRun herd(discovery("replicas", {a.address(), b.address()}) +
                       proxy("query", port, "replicas", R"({ plugin = "selector", name = "first-ready", interval = "2s" })"));
    REQUIRE(herd.wait_ready());

    std::atomic<int> ok{0}, failed{0};
    std::atomic<bool> stop{false};
    std::vector<std::string> failures;
    std::mutex mu;
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t)
        clients.emplace_back([&] {
            test::HttpConnection c(port);
            // Bounded: at most 60 s or 100 000 requests per client, whichever comes first.
            auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            for (int i = 0; i < 100000 && !stop && std::chrono::steady_clock::now() < end; ++i) {
                auto r = c.get("/api/v1/query?query=up");
                if (r.status == 200 && r.body.find("\"status\":\"success\"") != std::string::npos) {
                    ++ok;
                } else {
                    ++failed;
                    std::lock_guard lk(mu);
                    failures.push_back(std::to_string(r.status) + " " + r.body);
                }
            }
        });
    REQUIRE(test::eventually([&] { return ok >= 500; }));
    a.kill();  // SIGKILL: connections reset, new ones refused
    const int at_kill = ok;
    // Keep going until plenty of requests were served after the kill.
    CHECK(test::eventually([&] { return ok >= at_kill + 2000; }, std::chrono::seconds(50)));
    stop = true;
    for (auto& t : clients) t.join();
    INFO((failures.empty() ? std::string() : failures.front()));
    CHECK(failed == 0);
    CHECK(ok >= at_kill + 2000);
    CHECK(herd.metric("herd_proxy_retries_total{proxy=\"query\",backend=\"" + a.id() + "\"}") >= 1);
    CHECK(eligible(herd, "query", b.id()));
}

TEST_CASE("a POST body is replayed on the next replica when the first is dead", "[proxy][prometheus][failover]") {
    test::PrometheusReplica a("a"), b("b");
    REQUIRE((a.wait_ready() && b.wait_ready()));
    const uint16_t port = test::free_port();
    // A long interval: the dead replica stays selected until the failed request forces a re-selection.
    test::HerdRun herd(discovery("replicas", {a.address(), b.address()}) +
                       proxy("query", port, "replicas", R"({ plugin = "selector", name = "first-ready", interval = "1h" })",
                             "health_interval = \"1h\"\n"));
    REQUIRE(herd.wait_ready());
    test::HttpConnection c(port);
    REQUIRE(backend_of(c.get("/api/v1/query?query=up")) == a.id());
    a.kill();
    auto r = c.request("POST", "/api/v1/query", "query=vector(42)",
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
    CHECK(r.status == 200);
    CHECK(backend_of(r) == b.id());
    CHECK_THAT(r.body, Contains("\"42\""));  // the body reached b intact
}

TEST_CASE("bad input: garbage /metrics, oversized bodies, broken discovery, unreachable backends",
          "[proxy][prometheus][bad-input]") {
    test::PrometheusReplica real("real");
    REQUIRE(real.wait_ready());
    test::FakeBackend garbage([](const std::string& path) -> std::pair<int, std::string> {
        if (path == "/-/ready") return {200, "ready"};
        if (path == "/metrics") return {200, "this { is not \"the text format\n"};
        return {200, "{}"};
    });
    const uint16_t port = test::free_port(), nowhere = test::free_port();
    test::HerdRun herd(
        discovery("replicas", {garbage.address(), real.address()}) +
        "[[discovery]]\nname = \"filed\"\nplugin = \"sd_file\"\nfiles = [\"sd/*.json\"]\n\n" +
        discovery("unreachable", {"127.0.0.1:1", "127.0.0.1:2"}) +
        proxy("query", port, "replicas", R"({ plugin = "selector", name = "single-most-data", interval = "1s" })",
              "max_request_body = \"1MiB\"\n") +
        proxy("filed", test::free_port(), "filed", R"({ plugin = "selector", name = "random", interval = "1s" })") +
        proxy("nowhere", nowhere, "unreachable", R"({ plugin = "selector", name = "random", interval = "1s" })"));
    REQUIRE(herd.wait_serving());
    REQUIRE(test::eventually([&] { return herd.get("/-/ready").body.find("starting") == std::string::npos; }));
    // A fresh replica qualifies for single-most-data once it has scraped something.
    REQUIRE(test::eventually([&] { return eligible(herd, "query", real.id()); }));

    // Garbage /metrics: that backend cannot be compared, so the real one serves; /status says why.
    test::HttpConnection c(port);
    for (int i = 0; i < 10; ++i) CHECK(backend_of(c.get("/api/v1/query?query=up")) == real.id());
    CHECK_THAT(herd.get("/status").body, Contains("not Prometheus text format"));

    // 100 MiB request body: refused at once from its Content-Length, nothing buffered.
    auto big = test::HttpConnection(port).request("POST", "/api/v1/query", std::string(2 << 20, 'x'));
    CHECK(big.status == 413);
    CHECK_THAT(big.body, Contains("\"errorType\":\"bad_data\""));
    {
        // Announced as 100 MiB, only a little sent: the answer comes without waiting for the rest.
        test::HttpConnection raw(port);
        auto r = raw.request("POST", "/api/v1/query", "", {{"Content-Length", std::to_string(100 << 20)}});
        CHECK(r.status == 413);
    }
    CHECK(herd.metric("herd_proxy_request_too_large_total{proxy=\"query\"}") >= 2);

    // Unreachable backends: a Prometheus-shaped 503, not a hang.
    auto none = test::HttpConnection(nowhere).get("/api/v1/query?query=up");
    CHECK(none.status == 503);
    CHECK_THAT(none.body, Contains("\"status\":\"error\"") && Contains("\"errorType\":\"unavailable\""));
    CHECK(none.headers.count("x-herd-backend") == 1);

    // Malformed discovery data: the broken file keeps its last good backends.
    test::write_file_atomic(herd.dir() / "sd/a.json", "[{\"targets\":[\"" + real.address() + "\"]}]");
    REQUIRE(test::eventually([&] { return herd.metric("herd_proxy_eligible_backends{proxy=\"filed\"}") == 1; }));
    test::write_file(herd.dir() / "sd/a.json", "[{\"targets\":[\"" + real.address() + "\"], \"oops\": 1}]");
    REQUIRE(test::eventually([&] { return herd.metric("herd_discovery_healthy{discovery=\"filed\"}") == 0; }));
    CHECK(herd.metric("herd_proxy_backends{proxy=\"filed\"}") == 1);
    CHECK(herd.get("/-/ready").status == 200);
}

TEST_CASE("backends follow discovery live: prefix, streaming and mpp endpoints", "[proxy][prometheus]") {
    test::PrometheusReplica a("a"), b("b");
    REQUIRE((a.wait_ready() && b.wait_ready()));
    const uint16_t port = test::free_port();
    test::HerdRun herd("[[discovery]]\nname = \"filed\"\nplugin = \"sd_file\"\nfiles = [\"sd/*.json\"]\n\n" +
                       proxy("query", port, "filed", R"({ plugin = "selector", name = "random", interval = "1s" })",
                             "path_prefix = \"/prom\"\nmpp_endpoints = true\n"));
    test::write_file_atomic(herd.dir() / "sd/replicas.json", "[{\"targets\":[\"" + a.address() + "\"]}]");
    REQUIRE(herd.wait_ready());
    REQUIRE(test::eventually([&] { return herd.metric("herd_proxy_eligible_backends{proxy=\"query\"}") == 1; }));

    // A replica appears in discovery: it becomes a backend without a restart.
    test::write_file_atomic(herd.dir() / "sd/replicas.json",
                            "[{\"targets\":[\"" + a.address() + "\", \"" + b.address() + "\"]}]");
    CHECK(test::eventually([&] { return herd.metric("herd_proxy_eligible_backends{proxy=\"query\"}") == 2; }));

    test::HttpConnection c(port);
    auto q = c.get("/prom/api/v1/query?query=up");
    CHECK(q.status == 200);
    CHECK_THAT(q.body, Contains("\"status\":\"success\""));
    CHECK(c.get("/api/v1/query?query=up").status == 404);  // outside the prefix


    // mpp's own endpoints, on the proxy listener.
    CHECK(c.get("/mpp/health").body == "OK");
    auto mpp = c.get("/mpp/metrics").body;
    CHECK_THAT(mpp, Contains("mpp_requests{backend=\"") && Contains("mpp_selected_backends 2"));
    CHECK_THAT(c.get("/mpp/status").body, Contains("Multi-Prometheus Proxy Cluster Info"));

    // A replica removed from discovery stops being a backend, and its series leave /metrics.
    const std::string a_requests = "herd_proxy_requests_total{proxy=\"query\",backend=\"" + a.id() + "\",code=\"2xx\"}";
    test::write_file_atomic(herd.dir() / "sd/replicas.json", "[{\"targets\":[\"" + b.address() + "\"]}]");
    CHECK(test::eventually([&] { return herd.metric("herd_proxy_backends{proxy=\"query\"}") == 1; }));
    for (int i = 0; i < 10; ++i) CHECK(backend_of(c.get("/prom/api/v1/query?query=up")) == b.id());
    CHECK(test::eventually([&] { return !herd.metric(a_requests); }));
    CHECK(herd.metric("herd_proxy_requests_total{proxy=\"query\",backend=\"" + b.id() + "\",code=\"2xx\"}") >= 10);
}

TEST_CASE("large and chunked answers are relayed whole, in pieces", "[proxy][streaming]") {
    std::string big(5 << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    std::string chunks[3] = {std::string(100000, 'x'), std::string(70000, 'y'), std::string(30000, 'z')};
    test::FakeBackend backend([&](const std::string& path) -> std::pair<int, std::string> {
        if (path == "/-/ready") return {200, "ready"};
        if (path == "/big") return {200, big};
        if (path == "/chunked") {
            std::string raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            for (const auto& c : chunks) {
                char size[16];
                std::snprintf(size, sizeof size, "%zx", c.size());
                raw += std::string(size) + "\r\n" + c + "\r\n";
            }
            return {-1, raw + "0\r\n\r\n"};
        }
        return {404, "no"};
    });
    const uint16_t port = test::free_port();
    test::HerdRun herd(discovery("fake", {backend.address()}) +
                       proxy("query", port, "fake", R"({ plugin = "selector", name = "random", interval = "1s" })"));
    REQUIRE(herd.wait_ready());
    test::HttpConnection c(port);
    auto r = c.get("/big");
    CHECK(r.status == 200);
    CHECK(r.headers["content-length"] == std::to_string(big.size()));
    CHECK(r.body == big);
    auto ch = c.get("/chunked");
    CHECK(ch.status == 200);
    CHECK(ch.headers["transfer-encoding"] == "chunked");  // length unknown past the first 64 KiB
    CHECK(ch.body == chunks[0] + chunks[1] + chunks[2]);
    CHECK(c.get("/big").body.size() == big.size());  // the connection is still good

    // HEAD: the backend's Content-Length passes through, and no body follows.
    auto head = c.request("HEAD", "/big");
    CHECK(head.status == 200);
    CHECK(head.headers["content-length"] == std::to_string(big.size()));
    CHECK(head.body.empty());
    CHECK(c.get("/big").body == big);  // nothing of a body was left on the connection

    // An HTTP/1.0 client gets no chunked encoding: the body ends when the connection closes.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    const std::string req = "GET /chunked HTTP/1.0\r\n\r\n";
    REQUIRE(::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
    std::string raw;
    char buf[65536];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
    ::close(fd);
    const auto end = raw.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    const std::string headers = raw.substr(0, end);
    CHECK_THAT(headers, !Contains("chunked") && Contains("Connection: close"));
    CHECK(raw.substr(end + 4) == chunks[0] + chunks[1] + chunks[2]);
}

TEST_CASE("reloading a changed proxy under load drops no request", "[proxy][prometheus][reload]") {
    test::PrometheusReplica a("a");
    REQUIRE(a.wait_ready());
    const uint16_t port = test::free_port();
    const std::string base = discovery("replicas", {a.address()});
    auto with_retries = [&](int n) {
        return base + proxy("query", port, "replicas", R"({ plugin = "selector", name = "random", interval = "1s" })",
                            "retries = " + std::to_string(n) + "\n");
    };
    test::HerdRun herd(with_retries(1));
    REQUIRE(herd.wait_ready());

    std::atomic<int> ok{0}, failed{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < 3; ++t)
        clients.emplace_back([&] {
            test::HttpConnection c(port);
            auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (!stop && std::chrono::steady_clock::now() < end) {
                auto r = c.get("/api/v1/query?query=up");
                (r.status == 200 ? ok : failed)++;
            }
        });
    REQUIRE(test::eventually([&] { return ok >= 200; }));
    for (int n = 2; n <= 4; ++n) {  // three reloads, each replacing the proxy
        herd.write_config(with_retries(n));
        const int before = ok;
        herd.process().signal(SIGHUP);
        REQUIRE(test::eventually([&] {
            return herd.process().err().find("reload applied") != std::string::npos &&
                   static_cast<int>(herd.metric("herd_config_reloads_total{result=\"success\"}").value_or(0)) == n - 1;
        }));
        REQUIRE(test::eventually([&] { return ok >= before + 200; }));
    }
    stop = true;
    for (auto& t : clients) t.join();
    CHECK(failed == 0);
    CHECK_THAT(herd.process().err(), Contains("1 added or changed, 1 removed"));
}

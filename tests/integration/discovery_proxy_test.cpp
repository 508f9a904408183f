// Discovery feeding the proxy live: a replica appearing in Kubernetes (the protocol double) or in
// Marathon becomes a proxy backend of a running herd, and one that goes away stops being one —
// no restart, no reload.
#include "herd_fixture.hpp"
#include "http_client.hpp"
#include "k8s_double.hpp"
#include "marathon_double.hpp"
#include "prometheus.hpp"

#include <nlohmann/json.hpp>

using namespace herd;
using nlohmann::json;

namespace {

json endpoints_of(const std::vector<const test::PrometheusReplica*>& replicas) {
    json subsets = json::array();
    for (const auto* r : replicas) {
        const std::string addr = r->address();
        const int port = std::stoi(addr.substr(addr.rfind(':') + 1));
        subsets.push_back({{"addresses", {{{"ip", "127.0.0.1"}}}}, {"ports", {{{"name", "web"}, {"port", port}, {"protocol", "TCP"}}}}});
    }
    return {{"metadata", {{"name", "prometheus"}, {"namespace", "monitoring"}}}, {"subsets", subsets}};
}

}  // namespace

TEST_CASE("a replica appearing in Kubernetes becomes a proxy backend without a restart", "[proxy][prometheus][sd_k8s]") {
    test::PrometheusReplica a("a"), b("b");
    REQUIRE((a.wait_ready() && b.wait_ready()));
    test::K8sDouble k8s;
    k8s.apply("endpoints", endpoints_of({&a}));
    const uint16_t port = test::free_port();
    test::HerdRun herd("[[discovery]]\nname = \"k8s\"\nplugin = \"sd_k8s\"\napi_server = \"" + k8s.url() +
                       "\"\nservice = \"prometheus\"\nnamespaces = [\"monitoring\"]\nport = \"web\"\n\n"
                       "[[proxy]]\nname = \"query\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
                       "\"\nbackends = [\"k8s\"]\nstrategy = { plugin = \"selector\", name = \"random\", interval = \"1s\" }\n");
    REQUIRE(herd.wait_ready());
    REQUIRE(test::eventually([&] { return herd.metric("herd_proxy_eligible_backends{proxy=\"query\"}") == 1; }));
    test::HttpConnection c(port);
    CHECK(c.get("/api/v1/query?query=up").status == 200);

    k8s.apply("endpoints", endpoints_of({&a, &b}));  // scaled up
    CHECK(test::eventually([&] { return herd.metric("herd_proxy_eligible_backends{proxy=\"query\"}") == 2; }));
    k8s.apply("endpoints", endpoints_of({&b}));  // a goes away
    CHECK(test::eventually([&] { return herd.metric("herd_proxy_backends{proxy=\"query\"}") == 1; }));
    for (int i = 0; i < 5; ++i) CHECK(c.get("/api/v1/query?query=up").headers["x-herd-backend"] == b.id());
}

TEST_CASE("a Marathon task becomes a proxy backend without a restart", "[proxy][prometheus][sd_marathon]") {
    test::PrometheusReplica a("a");
    REQUIRE(a.wait_ready());
    test::MarathonDouble m;
    m.set_apps(json::array());
    const uint16_t port = test::free_port();
    test::HerdRun herd("[[discovery]]\nname = \"marathon\"\nplugin = \"sd_marathon\"\nservers = [\"" + m.url() +
                       "\"]\nrefresh_interval = \"200ms\"\n\n[[proxy]]\nname = \"query\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
                       "\"\nbackends = [\"marathon\"]\nstrategy = { plugin = \"selector\", name = \"random\", interval = \"1s\" }\n");
    REQUIRE(test::eventually([&] { return herd.metric("herd_proxy_backends{proxy=\"query\"}") == 0; }));
    const std::string addr = a.address();
    m.set_apps(json::array({{{"id", "/prometheus"},
                             {"tasks", json::array({{{"id", "prometheus.1"}, {"host", "127.0.0.1"},
                                                     {"ports", json::array({std::stoi(addr.substr(addr.rfind(':') + 1))})}}})}}}));
    REQUIRE(test::eventually([&] { return herd.metric("herd_proxy_eligible_backends{proxy=\"query\"}") == 1; }));
    test::HttpConnection c(port);
    CHECK(c.get("/api/v1/query?query=up").status == 200);
}

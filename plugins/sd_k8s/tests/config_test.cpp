// sd_k8s' configuration: Prometheus' kubernetes_sd_configs keys (namespaces with own_namespace,
// selectors, attach_metadata) with Prometheus' rules and messages, each error naming its key.
#include "config.hpp"

#include <catch2/catch.hpp>

using namespace herd;
using namespace herd::sd_k8s;
using Catch::Matchers::Contains;

namespace {

Options parse(const std::string& extra) {
    sdk::CreateContext ctx{sdk::Host(nullptr), "k8s", R"({"api_server": "http://127.0.0.1:1")" + extra + "}", "/tmp", "/tmp"};
    return parse_options(ctx);
}

// The error parse() throws: "key: message".
std::string refusal(const std::string& extra) {
    try {
        parse(extra);
    } catch (const sdk::ConfigError& e) {
        return e.key() + ": " + e.what();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("sd_k8s config: selectors as Prometheus has them, one per role, only the roles a role watches", "[sd_k8s][config]") {
    auto o = parse(R"(, "role": "endpoints", "selectors": [{"role": "pod", "label": "app=web"}, {"role": "service", "field": "metadata.name=web"}])");
    CHECK(o.selectors.at("pod").label == "app=web");
    CHECK(o.selectors.at("service").field == "metadata.name=web");
    CHECK(refusal(R"(, "role": "pod", "selectors": [{"role": "service", "label": "a=b"}])") ==
          "selectors[0].role: pod role supports only pod, node selectors");
    CHECK(refusal(R"(, "role": "pod", "selectors": [{"role": "pod"}, {"role": "pod"}])") == "selectors[1].role: duplicated selector role: pod");
    CHECK_THAT(refusal(R"(, "role": "pod", "selectors": [{"role": "pod", "lable": "a=b"}])"), Contains("selectors[0].lable: unknown key"));
    CHECK_THAT(refusal(R"(, "role": "pod", "label_selector": "a=b", "selectors": [{"role": "pod", "label": "c=d"}])"),
               Contains("label_selector: selectors has a pod entry already"));
    // herd's own keys are the role's own selector.
    CHECK(parse(R"(, "role": "pod", "label_selector": "a=b")").selectors.at("pod").label == "a=b");
}

TEST_CASE("sd_k8s config: namespaces as a list or Prometheus' table, own_namespace only in a cluster", "[sd_k8s][config]") {
    CHECK(parse(R"(, "role": "pod", "namespaces": ["a", "b"])").namespaces == std::vector<std::string>{"a", "b"});
    auto table = parse(R"(, "role": "pod", "namespaces": {"names": ["a"]})");
    CHECK(table.namespaces == std::vector<std::string>{"a"});
    CHECK(table.namespaces_listed);
    CHECK_FALSE(parse(R"(, "role": "pod")").namespaces_listed);
    CHECK(refusal(R"(, "role": "pod", "namespaces": {"names": ["a"], "own_namespace": true})") ==
          "namespaces.own_namespace: cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
    CHECK_THAT(refusal(R"(, "role": "pod", "namespaces": {"name": ["a"]})"), Contains("namespaces.name: unknown key"));
    // Prometheus' getNamespaces.
    CHECK(namespaces_to_watch({}, false, "mine").empty());
    CHECK(namespaces_to_watch({}, true, "mine") == std::vector<std::string>{"mine"});
    CHECK(namespaces_to_watch({"a"}, true, "mine") == std::vector<std::string>{"a", "mine"});
    CHECK(namespaces_to_watch({"mine"}, true, "mine") == std::vector<std::string>{"mine"});
}

TEST_CASE("sd_k8s config: attach_metadata, and role ingress", "[sd_k8s][config]") {
    auto o = parse(R"(, "role": "pod", "attach_metadata": {"node": true, "namespace": true, "deployment": true, "job": true, "cronjob": true})");
    CHECK((o.attach.node && o.attach.ns && o.attach.deployment && o.attach.job && o.attach.cronjob));
    CHECK(refusal(R"(, "role": "service", "attach_metadata": {"node": true})") == "attach_metadata.node: goes with role pod, endpoints or endpointslice");
    CHECK(refusal(R"(, "role": "node", "attach_metadata": {"namespace": true})") == "attach_metadata.namespace: nodes have no namespace");
    CHECK(refusal(R"(, "role": "pod", "attach_metadata": {"nodes": true})") == "attach_metadata.nodes: unknown key \"nodes\"");
    CHECK(parse(R"(, "role": "ingress", "attach_metadata": {"namespace": true})").role == "ingress");
    CHECK_THAT(refusal(R"(, "role": "ingresses")"), Contains("is not a role (endpoints, endpointslice, pod, service, node, ingress)"));
}

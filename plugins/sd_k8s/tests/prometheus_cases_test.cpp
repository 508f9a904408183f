// Cases ported from Prometheus 3.x's own discovery/kubernetes tests (endpointslice_test.go,
// endpoints_test.go, service_test.go, pod_test.go, ingress_test.go): the same objects, written as
// the API server's JSON, and the exact label sets Prometheus expects. Where herd used to differ
// (dual-stack slices, an empty targetRef, the deprecated topology, the container port's protocol,
// load balancer IPs, pods in other namespaces) the case says so.
#include "targets.hpp"

#include <catch2/catch.hpp>

using namespace herd::sd_k8s;
using nlohmann::json;

namespace {

// makeEndpointSliceV1("default")
json slice_v1() {
    return json::parse(R"({
      "metadata": {"name": "testendpoints", "namespace": "default",
                   "labels": {"kubernetes.io/service-name": "testendpoints"},
                   "annotations": {"test.annotation": "test"}},
      "addressType": "IPv4",
      "ports": [{"name": "testport", "port": 9000, "protocol": "TCP", "appProtocol": "http"}],
      "endpoints": [
        {"addresses": ["1.2.3.4"], "conditions": {"ready": true, "serving": true, "terminating": false},
         "hostname": "testendpoint1", "targetRef": {}, "nodeName": "foobar",
         "deprecatedTopology": {"topology": "value"}, "zone": "us-east-1a"},
        {"addresses": ["2.3.4.5"], "conditions": {"ready": true, "serving": true, "terminating": false}, "zone": "us-east-1b"},
        {"addresses": ["3.4.5.6"], "conditions": {"ready": false, "serving": true, "terminating": true}, "zone": "us-east-1c"},
        {"addresses": ["4.5.6.7"], "conditions": {"ready": true, "serving": true, "terminating": false},
         "targetRef": {"kind": "Node", "name": "barbaz"}, "zone": "us-east-1a"}]})");
}

Objects by_key(std::initializer_list<json> objects) {
    Objects out;
    for (const auto& o : objects) out[object_key(o)] = o;
    return out;
}

}  // namespace

TEST_CASE("prometheus endpointslice: WithService, an empty targetRef and the deprecated topology", "[sd_k8s][prometheus]") {
    const Objects services = by_key({json::parse(R"({"metadata": {"name": "testendpoints", "namespace": "default", "labels": {"app/name": "test"}}})")});
    const Objects pods;
    json g = endpointslice_group(slice_v1(), {&pods, &services});
    CHECK(g["source"] == "endpointslice/default/testendpoints");
    CHECK(g["labels"] == json::parse(R"({
      "__meta_kubernetes_endpointslice_address_type": "IPv4",
      "__meta_kubernetes_endpointslice_name": "testendpoints",
      "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name": "testendpoints",
      "__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name": "true",
      "__meta_kubernetes_endpointslice_annotation_test_annotation": "test",
      "__meta_kubernetes_endpointslice_annotationpresent_test_annotation": "true",
      "__meta_kubernetes_namespace": "default",
      "__meta_kubernetes_service_label_app_name": "test",
      "__meta_kubernetes_service_labelpresent_app_name": "true",
      "__meta_kubernetes_service_name": "testendpoints"})"));
    REQUIRE(g["targets"].size() == 4);
    CHECK(g["targets"][0] == json::parse(R"({
      "__address__": "1.2.3.4:9000",
      "__meta_kubernetes_endpointslice_address_target_kind": "",
      "__meta_kubernetes_endpointslice_address_target_name": "",
      "__meta_kubernetes_endpointslice_endpoint_conditions_ready": "true",
      "__meta_kubernetes_endpointslice_endpoint_conditions_serving": "true",
      "__meta_kubernetes_endpointslice_endpoint_conditions_terminating": "false",
      "__meta_kubernetes_endpointslice_endpoint_hostname": "testendpoint1",
      "__meta_kubernetes_endpointslice_endpoint_node_name": "foobar",
      "__meta_kubernetes_endpointslice_endpoint_topology_present_topology": "true",
      "__meta_kubernetes_endpointslice_endpoint_topology_topology": "value",
      "__meta_kubernetes_endpointslice_endpoint_zone": "us-east-1a",
      "__meta_kubernetes_endpointslice_port": "9000",
      "__meta_kubernetes_endpointslice_port_app_protocol": "http",
      "__meta_kubernetes_endpointslice_port_name": "testport",
      "__meta_kubernetes_endpointslice_port_protocol": "TCP"})"));
    CHECK(g["targets"][1] == json::parse(R"({
      "__address__": "2.3.4.5:9000",
      "__meta_kubernetes_endpointslice_endpoint_conditions_ready": "true",
      "__meta_kubernetes_endpointslice_endpoint_conditions_serving": "true",
      "__meta_kubernetes_endpointslice_endpoint_conditions_terminating": "false",
      "__meta_kubernetes_endpointslice_endpoint_zone": "us-east-1b",
      "__meta_kubernetes_endpointslice_port": "9000",
      "__meta_kubernetes_endpointslice_port_app_protocol": "http",
      "__meta_kubernetes_endpointslice_port_name": "testport",
      "__meta_kubernetes_endpointslice_port_protocol": "TCP"})"));
    CHECK(g["targets"][3]["__meta_kubernetes_endpointslice_address_target_kind"] == "Node");
    CHECK(g["targets"][3]["__meta_kubernetes_endpointslice_address_target_name"] == "barbaz");
}

TEST_CASE("prometheus endpointslice: a sidecar's init containers, matched by port number", "[sd_k8s][prometheus]") {
    const json slice = json::parse(R"({
      "metadata": {"name": "testsidecar", "namespace": "default"}, "addressType": "IPv4",
      "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}, {"name": "initport", "port": 9111, "protocol": "TCP"}],
      "endpoints": [{"addresses": ["4.3.2.1"], "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"}}]})");
    const Objects pods = by_key({json::parse(R"({
      "metadata": {"name": "testpod", "namespace": "default", "uid": "deadbeef"},
      "spec": {"nodeName": "testnode",
               "initContainers": [{"name": "ic1", "image": "ic1:latest", "ports": [{"name": "initport", "containerPort": 1111, "protocol": "TCP"}]},
                                  {"name": "ic2", "image": "ic2:latest", "ports": [{"name": "initport", "containerPort": 9111, "protocol": "TCP"}]}],
               "containers": [{"name": "c1", "image": "c1:latest", "ports": [{"name": "mainport", "containerPort": 9000, "protocol": "TCP"}]}]},
      "status": {"hostIP": "2.3.4.5", "podIP": "4.3.2.1"}})")});
    const Objects services;
    json g = endpointslice_group(slice, {&pods, &services});
    const json pod_part = json::parse(R"({
      "__meta_kubernetes_pod_host_ip": "2.3.4.5", "__meta_kubernetes_pod_ip": "4.3.2.1", "__meta_kubernetes_pod_name": "testpod",
      "__meta_kubernetes_pod_node_name": "testnode", "__meta_kubernetes_pod_phase": "", "__meta_kubernetes_pod_ready": "unknown",
      "__meta_kubernetes_pod_uid": "deadbeef"})");
    auto with_pod = [&](json t) {
        t.update(pod_part);
        return t;
    };
    REQUIRE(g["targets"].size() == 3);
    CHECK(g["targets"][0] == with_pod(json::parse(R"({
      "__address__": "4.3.2.1:9000",
      "__meta_kubernetes_endpointslice_address_target_kind": "Pod", "__meta_kubernetes_endpointslice_address_target_name": "testpod",
      "__meta_kubernetes_endpointslice_port": "9000", "__meta_kubernetes_endpointslice_port_name": "testport",
      "__meta_kubernetes_endpointslice_port_protocol": "TCP",
      "__meta_kubernetes_pod_container_image": "c1:latest", "__meta_kubernetes_pod_container_name": "c1",
      "__meta_kubernetes_pod_container_port_name": "mainport", "__meta_kubernetes_pod_container_port_number": "9000",
      "__meta_kubernetes_pod_container_port_protocol": "TCP", "__meta_kubernetes_pod_container_init": "false"})")));
    CHECK(g["targets"][1] == with_pod(json::parse(R"({
      "__address__": "4.3.2.1:9111",
      "__meta_kubernetes_endpointslice_address_target_kind": "Pod", "__meta_kubernetes_endpointslice_address_target_name": "testpod",
      "__meta_kubernetes_endpointslice_port": "9111", "__meta_kubernetes_endpointslice_port_name": "initport",
      "__meta_kubernetes_endpointslice_port_protocol": "TCP",
      "__meta_kubernetes_pod_container_image": "ic2:latest", "__meta_kubernetes_pod_container_name": "ic2",
      "__meta_kubernetes_pod_container_port_name": "initport", "__meta_kubernetes_pod_container_port_number": "9111",
      "__meta_kubernetes_pod_container_port_protocol": "TCP", "__meta_kubernetes_pod_container_init": "true"})")));
    CHECK(g["targets"][2] == with_pod(json::parse(R"({
      "__address__": "4.3.2.1:1111",
      "__meta_kubernetes_pod_container_image": "ic1:latest", "__meta_kubernetes_pod_container_name": "ic1",
      "__meta_kubernetes_pod_container_port_name": "initport", "__meta_kubernetes_pod_container_port_number": "1111",
      "__meta_kubernetes_pod_container_port_protocol": "TCP", "__meta_kubernetes_pod_container_init": "true"})")));
}

TEST_CASE("prometheus endpointslice: a dual-stack Service keeps only its primary family's slice", "[sd_k8s][prometheus]") {
    auto svc = [](const std::string& policy, json families) {
        return json{{"metadata", {{"name", "testsvc"}, {"namespace", "default"}}},
                    {"spec", {{"ipFamilyPolicy", policy}, {"ipFamilies", families}}}};
    };
    auto slice = [](const std::string& name, const std::string& type, const std::string& addr) {
        return json{{"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"kubernetes.io/service-name", "testsvc"}}}}},
                    {"addressType", type},
                    {"ports", {{{"name", "http"}, {"port", 9000}, {"protocol", "TCP"}}}},
                    {"endpoints", {{{"addresses", {addr}}, {"conditions", {{"ready", true}}}}}}};
    };
    const json v4 = slice("testsvc-ipv4", "IPv4", "1.2.3.4"), v6 = slice("testsvc-ipv6", "IPv6", "fd00::1");
    const Objects pods;
    for (const std::string policy : {"PreferDualStack", "RequireDualStack"}) {
        INFO(policy);
        const Objects v4_first = by_key({svc(policy, {"IPv4", "IPv6"})});
        json a = endpointslice_group(v4, {&pods, &v4_first}), b = endpointslice_group(v6, {&pods, &v4_first});
        REQUIRE(a["targets"].size() == 1);
        CHECK(a["targets"][0] == json::parse(R"({"__address__": "1.2.3.4:9000",
          "__meta_kubernetes_endpointslice_endpoint_conditions_ready": "true", "__meta_kubernetes_endpointslice_port": "9000",
          "__meta_kubernetes_endpointslice_port_name": "http", "__meta_kubernetes_endpointslice_port_protocol": "TCP"})"));
        CHECK(b["targets"].empty());  // herd used to emit 1 duplicate target per endpoint here
        CHECK(b["labels"]["__meta_kubernetes_endpointslice_address_type"] == "IPv6");
        CHECK(b["labels"]["__meta_kubernetes_service_name"] == "testsvc");
    }
    const Objects v6_first = by_key({svc("PreferDualStack", {"IPv6", "IPv4"})});
    CHECK(endpointslice_group(v6, {&pods, &v6_first})["targets"][0]["__address__"] == "[fd00::1]:9000");
    CHECK(endpointslice_group(v4, {&pods, &v6_first})["targets"].empty());
    const Objects single = by_key({svc("SingleStack", {"IPv6"})});
    CHECK(endpointslice_group(v6, {&pods, &single})["targets"].size() == 1);
}

TEST_CASE("prometheus endpointslice: one port number, two protocols: the container port's own protocol", "[sd_k8s][prometheus]") {
    // 53/UDP and 53/TCP on one Service: Prometheus matches container ports by number only and
    // labels the matched container port's protocol (the endpoints role, the endpoint port's).
    const json slice = json::parse(R"({
      "metadata": {"name": "dns", "namespace": "kube-system"}, "addressType": "IPv4",
      "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
      "endpoints": [{"addresses": ["10.0.0.10"], "targetRef": {"kind": "Pod", "name": "coredns", "namespace": "kube-system"}}]})");
    const Objects pods = by_key({json::parse(R"({
      "metadata": {"name": "coredns", "namespace": "kube-system"},
      "spec": {"containers": [{"name": "coredns", "image": "coredns:1.11",
                               "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                         {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                         {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}]}]},
      "status": {"podIP": "10.0.0.10"}})")});
    const Objects services;
    json g = endpointslice_group(slice, {&pods, &services});
    REQUIRE(g["targets"].size() == 3);
    CHECK(g["targets"][0]["__meta_kubernetes_endpointslice_port_protocol"] == "UDP");
    CHECK(g["targets"][0]["__meta_kubernetes_pod_container_port_protocol"] == "UDP");
    CHECK(g["targets"][1]["__meta_kubernetes_endpointslice_port_protocol"] == "TCP");
    CHECK(g["targets"][1]["__meta_kubernetes_pod_container_port_name"] == "dns");      // the first container port numbered 53
    CHECK(g["targets"][1]["__meta_kubernetes_pod_container_port_protocol"] == "UDP");  // its protocol, as Prometheus labels it
    CHECK(g["targets"][2]["__address__"] == "10.0.0.10:9153");
}

TEST_CASE("prometheus endpoints and endpointslice: pods resolve as Prometheus' per-namespace informers do", "[sd_k8s][prometheus]") {
    const Objects pods = by_key({json::parse(R"({"metadata": {"name": "p", "namespace": "other"}, "status": {"podIP": "10.0.0.1"}})")});
    const Objects services;
    const json eps = json::parse(R"({"metadata": {"name": "svc", "namespace": "default"},
      "subsets": [{"addresses": [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "name": "p", "namespace": "other"}},
                                 {"ip": "10.0.0.2", "targetRef": {"kind": "Pod", "name": "p"}}],
                   "ports": [{"port": 80, "protocol": "TCP"}]}]})");
    // All namespaces: one pod informer sees every pod, a cross-namespace reference resolves.
    json all = endpoints_group(eps, {&pods, &services});
    CHECK(all["targets"][0]["__meta_kubernetes_pod_name"] == "p");
    CHECK_FALSE(all["targets"][1].contains("__meta_kubernetes_pod_name"));  // a targetRef without a namespace: nothing
    // namespaces = ["default", "other"]: the default namespace's informer has no pod "other/p".
    Related listed{&pods, &services};
    listed.pods_in_own_namespace = true;
    json per_ns = endpoints_group(eps, listed);
    CHECK_FALSE(per_ns["targets"][0].contains("__meta_kubernetes_pod_name"));
    CHECK(per_ns["targets"].size() == 2);
}

TEST_CASE("prometheus service: the load balancer's IPs from status.loadBalancer.ingress, comma-separated", "[sd_k8s][prometheus]") {
    json svc = json::parse(R"({"metadata": {"name": "lb", "namespace": "default"},
      "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.1", "loadBalancerIP": "203.0.113.1", "ports": [{"port": 80, "protocol": "TCP"}]},
      "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}, {"hostname": "lb.example.com"}, {"ip": "198.51.100.2"}]}}})");
    CHECK(service_group(svc)["targets"][0]["__meta_kubernetes_service_loadbalancer_ip"] == "198.51.100.1,198.51.100.2");
    svc["status"]["loadBalancer"]["ingress"] = json::array({{{"hostname", "only.example.com"}}});
    CHECK(service_group(svc)["targets"][0]["__meta_kubernetes_service_loadbalancer_ip"] == "203.0.113.1");
    svc["spec"]["type"] = "ClusterIP";
    CHECK_FALSE(service_group(svc)["targets"][0].contains("__meta_kubernetes_service_loadbalancer_ip"));
}

TEST_CASE("prometheus pod: attach_metadata node, namespace, deployment, job and cronjob", "[sd_k8s][prometheus]") {
    const json pod = json::parse(R"({"metadata": {"name": "web-1", "namespace": "shop",
        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-6d4f", "controller": true}]},
      "spec": {"nodeName": "node-a", "containers": [{"name": "web", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]},
      "status": {"podIP": "10.1.0.5"}})");
    const Objects nodes = by_key({json::parse(R"({"metadata": {"name": "node-a", "labels": {"topology.kubernetes.io/zone": "z1"}}})")});
    const Objects namespaces = by_key({json::parse(R"({"metadata": {"name": "shop", "labels": {"team": "payments"}, "annotations": {"owner": "x"}}})")});
    const Objects replicasets = by_key({json::parse(R"({"metadata": {"name": "web-6d4f", "namespace": "shop",
        "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": true}]}})")});
    Related r;
    r.nodes = &nodes;
    r.namespaces = &namespaces;
    r.replicasets = &replicasets;
    json g = pod_group(pod, r);
    CHECK(g["labels"]["__meta_kubernetes_node_name"] == "node-a");
    CHECK(g["labels"]["__meta_kubernetes_node_label_topology_kubernetes_io_zone"] == "z1");
    CHECK(g["labels"]["__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone"] == "true");
    CHECK(g["labels"]["__meta_kubernetes_namespace_label_team"] == "payments");
    CHECK(g["labels"]["__meta_kubernetes_namespace_annotation_owner"] == "x");
    CHECK_FALSE(g["labels"].contains("__meta_kubernetes_namespace_name"));  // the namespace's name is __meta_kubernetes_namespace
    CHECK(g["labels"]["__meta_kubernetes_pod_deployment_name"] == "web");
    CHECK(g["labels"]["__meta_kubernetes_pod_controller_name"] == "web-6d4f");
    CHECK_FALSE(pod_group(pod)["labels"].contains("__meta_kubernetes_pod_deployment_name"));  // only when asked for

    const Objects no_nodes;
    r.nodes = &no_nodes;
    CHECK(pod_group(pod, r)["targets"].empty());  // with node metadata, a pod waits for its node

    json job_pod = pod;
    job_pod["metadata"]["ownerReferences"] = json::parse(R"([{"kind": "Job", "name": "backup-2891", "controller": true}])");
    const Objects jobs = by_key({json::parse(R"({"metadata": {"name": "backup-2891", "namespace": "shop",
        "ownerReferences": [{"kind": "CronJob", "name": "backup", "controller": true}]}})")});
    Related jr;
    jr.jobs = &jobs;
    jr.job_names = true;
    json jg = pod_group(job_pod, jr);
    CHECK(jg["labels"]["__meta_kubernetes_pod_job_name"] == "backup-2891");
    CHECK(jg["labels"]["__meta_kubernetes_pod_cronjob_name"] == "backup");
}

TEST_CASE("prometheus endpointslice: attach_metadata node by nodeName, or by a Node targetRef", "[sd_k8s][prometheus]") {
    const Objects nodes = by_key({json::parse(R"({"metadata": {"name": "foobar", "labels": {"az": "us-east-1a"}}})"),
                                  json::parse(R"({"metadata": {"name": "barbaz", "labels": {"az": "us-east-1b"}}})")});
    const Objects pods, services;
    Related r{&pods, &services};
    r.nodes = &nodes;
    json g = endpointslice_group(slice_v1(), r);
    CHECK(g["targets"][0]["__meta_kubernetes_node_name"] == "foobar");
    CHECK(g["targets"][0]["__meta_kubernetes_node_label_az"] == "us-east-1a");
    CHECK_FALSE(g["targets"][1].contains("__meta_kubernetes_node_name"));
    CHECK(g["targets"][3]["__meta_kubernetes_node_name"] == "barbaz");
    CHECK(refers_to_node("endpointslice", slice_v1(), "barbaz"));
    CHECK_FALSE(refers_to_node("endpointslice", slice_v1(), "nope"));
}

TEST_CASE("prometheus ingress: one target per rule and path, https where TLS covers the host", "[sd_k8s][prometheus]") {
    json ing = json::parse(R"({"metadata": {"name": "testingress", "namespace": "default",
        "labels": {"test/label": "testvalue"}, "annotations": {"test/annotation": "testannotationvalue"}},
      "spec": {"ingressClassName": "testclass",
               "rules": [{"host": "example.com", "http": {"paths": [{"path": "/"}, {"path": "/foo"}]}},
                         {"host": "nobackend.example.com", "http": {}},
                         {"host": "test.example.com", "http": {"paths": [{}]}}]}})");
    auto expect = [](const std::string& s1, const std::string& s2) {
        return json::parse(R"([
          {"__meta_kubernetes_ingress_scheme": ")" + s1 + R"(", "__meta_kubernetes_ingress_host": "example.com", "__meta_kubernetes_ingress_path": "/", "__address__": "example.com"},
          {"__meta_kubernetes_ingress_scheme": ")" + s1 + R"(", "__meta_kubernetes_ingress_host": "example.com", "__meta_kubernetes_ingress_path": "/foo", "__address__": "example.com"},
          {"__meta_kubernetes_ingress_scheme": ")" + s2 + R"(", "__meta_kubernetes_ingress_host": "test.example.com", "__meta_kubernetes_ingress_path": "/", "__address__": "test.example.com"}])");
    };
    json g = ingress_group(ing);
    CHECK(g["source"] == "ingress/default/testingress");
    CHECK(g["labels"] == json::parse(R"({
      "__meta_kubernetes_ingress_name": "testingress", "__meta_kubernetes_namespace": "default",
      "__meta_kubernetes_ingress_label_test_label": "testvalue", "__meta_kubernetes_ingress_labelpresent_test_label": "true",
      "__meta_kubernetes_ingress_annotation_test_annotation": "testannotationvalue",
      "__meta_kubernetes_ingress_annotationpresent_test_annotation": "true",
      "__meta_kubernetes_ingress_class_name": "testclass"})"));
    CHECK(g["targets"] == expect("http", "http"));
    ing["spec"]["tls"] = json::parse(R"([{"hosts": ["example.com", "test.example.com"]}])");
    CHECK(ingress_group(ing)["targets"] == expect("https", "https"));
    ing["spec"]["tls"] = json::parse(R"([{"hosts": ["example.com"]}])");
    CHECK(ingress_group(ing)["targets"] == expect("https", "http"));
    ing["spec"]["tls"] = json::parse(R"([{"hosts": ["*.example.com"]}])");
    CHECK(ingress_group(ing)["targets"] == expect("http", "https"));
}

TEST_CASE("prometheus endpoints: WithNodeMetadata, by nodeName or by a Node targetRef", "[sd_k8s][prometheus]") {
    const json eps = json::parse(R"({"metadata": {"name": "testendpoints", "namespace": "default", "annotations": {"test.annotation": "test"}},
      "subsets": [
        {"addresses": [{"ip": "1.2.3.4", "hostname": "testendpoint1", "nodeName": "foobar"}], "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}]},
        {"addresses": [{"ip": "2.3.4.5"}], "notReadyAddresses": [{"ip": "2.3.4.5"}], "ports": [{"name": "testport", "port": 9001, "protocol": "TCP"}]},
        {"addresses": [{"ip": "6.7.8.9", "targetRef": {"kind": "Node", "name": "barbaz"}}], "ports": [{"name": "testport", "port": 9002, "protocol": "TCP"}]}]})");
    const Objects services = by_key({json::parse(R"({"metadata": {"name": "testendpoints", "namespace": "default", "labels": {"app/name": "test"}}})")});
    const Objects nodes = by_key({json::parse(R"({"metadata": {"name": "foobar", "labels": {"az": "us-east1"}}})"),
                                  json::parse(R"({"metadata": {"name": "barbaz", "labels": {"az": "us-west2"}}})")});
    const Objects pods;
    Related r{&pods, &services};
    r.nodes = &nodes;
    json g = endpoints_group(eps, r);
    CHECK(g["labels"] == json::parse(R"({
      "__meta_kubernetes_namespace": "default", "__meta_kubernetes_endpoints_name": "testendpoints",
      "__meta_kubernetes_service_label_app_name": "test", "__meta_kubernetes_service_labelpresent_app_name": "true",
      "__meta_kubernetes_service_name": "testendpoints",
      "__meta_kubernetes_endpoints_annotation_test_annotation": "test",
      "__meta_kubernetes_endpoints_annotationpresent_test_annotation": "true"})"));
    CHECK(g["targets"] == json::parse(R"([
      {"__address__": "1.2.3.4:9000", "__meta_kubernetes_endpoint_hostname": "testendpoint1", "__meta_kubernetes_endpoint_node_name": "foobar",
       "__meta_kubernetes_endpoint_port_name": "testport", "__meta_kubernetes_endpoint_port_protocol": "TCP", "__meta_kubernetes_endpoint_ready": "true",
       "__meta_kubernetes_node_label_az": "us-east1", "__meta_kubernetes_node_labelpresent_az": "true", "__meta_kubernetes_node_name": "foobar"},
      {"__address__": "2.3.4.5:9001", "__meta_kubernetes_endpoint_port_name": "testport", "__meta_kubernetes_endpoint_port_protocol": "TCP",
       "__meta_kubernetes_endpoint_ready": "true"},
      {"__address__": "2.3.4.5:9001", "__meta_kubernetes_endpoint_port_name": "testport", "__meta_kubernetes_endpoint_port_protocol": "TCP",
       "__meta_kubernetes_endpoint_ready": "false"},
      {"__address__": "6.7.8.9:9002", "__meta_kubernetes_endpoint_address_target_kind": "Node", "__meta_kubernetes_endpoint_address_target_name": "barbaz",
       "__meta_kubernetes_endpoint_port_name": "testport", "__meta_kubernetes_endpoint_port_protocol": "TCP", "__meta_kubernetes_endpoint_ready": "true",
       "__meta_kubernetes_node_label_az": "us-west2", "__meta_kubernetes_node_labelpresent_az": "true", "__meta_kubernetes_node_name": "barbaz"}])"));
    CHECK(refers_to_node("endpoints", eps, "barbaz"));
}

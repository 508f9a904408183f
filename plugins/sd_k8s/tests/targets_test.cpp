// Kubernetes objects to target groups: the exact label sets Prometheus' kubernetes_sd produces,
// from realistic objects (multi-port, not-ready addresses, IPv6, init containers, pods without an
// IP, nodes with several address types).
#include "targets.hpp"

#include <catch2/catch.hpp>

using namespace herd::sd_k8s;
using nlohmann::json;

namespace {

json pod() {
    return json::parse(R"({
      "metadata": {"name": "prom-0", "namespace": "monitoring", "uid": "7f3c",
                   "labels": {"app.kubernetes.io/name": "prometheus", "shard": "a"},
                   "annotations": {"prometheus.io/scrape": "true"},
                   "ownerReferences": [{"kind": "ReplicaSet", "name": "other", "controller": false},
                                       {"kind": "StatefulSet", "name": "prom", "controller": true}]},
      "spec": {"nodeName": "node-1",
               "containers": [{"name": "prometheus", "image": "prom/prometheus:v2.42.0",
                               "ports": [{"name": "web", "containerPort": 9090, "protocol": "TCP"},
                                         {"name": "grpc", "containerPort": 10901, "protocol": "TCP"}]},
                              {"name": "reloader", "image": "reloader:1"}],
               "initContainers": [{"name": "init", "image": "busybox", "ports": [{"containerPort": 8080, "protocol": "UDP"}]}]},
      "status": {"phase": "Running", "podIP": "10.1.2.3", "hostIP": "192.168.0.10",
                 "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False"}],
                 "containerStatuses": [{"name": "prometheus", "containerID": "containerd://abc"},
                                       {"name": "reloader", "containerID": "containerd://def"}],
                 "initContainerStatuses": [{"name": "init", "containerID": "containerd://0a1"}]}})");
}

json service() {
    return json::parse(R"({
      "metadata": {"name": "prometheus", "namespace": "monitoring", "labels": {"team": "sre"}},
      "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.20",
               "ports": [{"name": "web", "port": 9090, "protocol": "TCP"}, {"name": "grpc", "port": 10901, "protocol": "TCP"}]}})");
}

}  // namespace

TEST_CASE("k8s targets: pod role, one target per container port, bare IP for containers without ports", "[sd_k8s]") {
    json g = pod_group(pod());
    CHECK(g["source"] == "pod/monitoring/prom-0");
    const json expected_labels = json::parse(R"({
      "__meta_kubernetes_namespace": "monitoring",
      "__meta_kubernetes_pod_name": "prom-0",
      "__meta_kubernetes_pod_ip": "10.1.2.3",
      "__meta_kubernetes_pod_ready": "false",
      "__meta_kubernetes_pod_phase": "Running",
      "__meta_kubernetes_pod_node_name": "node-1",
      "__meta_kubernetes_pod_host_ip": "192.168.0.10",
      "__meta_kubernetes_pod_uid": "7f3c",
      "__meta_kubernetes_pod_controller_kind": "StatefulSet",
      "__meta_kubernetes_pod_controller_name": "prom",
      "__meta_kubernetes_pod_label_app_kubernetes_io_name": "prometheus",
      "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name": "true",
      "__meta_kubernetes_pod_label_shard": "a",
      "__meta_kubernetes_pod_labelpresent_shard": "true",
      "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
      "__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape": "true"})");
    CHECK(g["labels"] == expected_labels);
    const json expected_targets = json::parse(R"([
      {"__address__": "10.1.2.3:9090", "__meta_kubernetes_pod_container_name": "prometheus",
       "__meta_kubernetes_pod_container_id": "containerd://abc", "__meta_kubernetes_pod_container_image": "prom/prometheus:v2.42.0",
       "__meta_kubernetes_pod_container_init": "false", "__meta_kubernetes_pod_container_port_name": "web",
       "__meta_kubernetes_pod_container_port_number": "9090", "__meta_kubernetes_pod_container_port_protocol": "TCP"},
      {"__address__": "10.1.2.3:10901", "__meta_kubernetes_pod_container_name": "prometheus",
       "__meta_kubernetes_pod_container_id": "containerd://abc", "__meta_kubernetes_pod_container_image": "prom/prometheus:v2.42.0",
       "__meta_kubernetes_pod_container_init": "false", "__meta_kubernetes_pod_container_port_name": "grpc",
       "__meta_kubernetes_pod_container_port_number": "10901", "__meta_kubernetes_pod_container_port_protocol": "TCP"},
      {"__address__": "10.1.2.3", "__meta_kubernetes_pod_container_name": "reloader",
       "__meta_kubernetes_pod_container_id": "containerd://def", "__meta_kubernetes_pod_container_image": "reloader:1",
       "__meta_kubernetes_pod_container_init": "false"},
      {"__address__": "10.1.2.3:8080", "__meta_kubernetes_pod_container_name": "init",
       "__meta_kubernetes_pod_container_id": "containerd://0a1", "__meta_kubernetes_pod_container_image": "busybox",
       "__meta_kubernetes_pod_container_init": "true", "__meta_kubernetes_pod_container_port_name": "",
       "__meta_kubernetes_pod_container_port_number": "8080", "__meta_kubernetes_pod_container_port_protocol": "UDP"}])");
    CHECK(g["targets"] == expected_targets);
}

TEST_CASE("k8s targets: a pod without an IP is an empty group, IPv6 addresses are bracketed", "[sd_k8s]") {
    json p = pod();
    p["status"].erase("podIP");
    json g = pod_group(p);
    CHECK(g["source"] == "pod/monitoring/prom-0");
    CHECK(g["targets"].empty());
    CHECK(g["labels"].empty());
    p["status"]["podIP"] = "fd00::12";
    CHECK(pod_group(p)["targets"][0]["__address__"] == "[fd00::12]:9090");
    p["status"].erase("conditions");
    CHECK(pod_group(p)["labels"]["__meta_kubernetes_pod_ready"] == "unknown");
}

TEST_CASE("k8s targets: service role, ClusterIP, ExternalName and LoadBalancer", "[sd_k8s]") {
    json g = service_group(service());
    CHECK(g["source"] == "svc/monitoring/prometheus");
    CHECK(g["labels"] == json::parse(R"({"__meta_kubernetes_namespace": "monitoring", "__meta_kubernetes_service_name": "prometheus",
        "__meta_kubernetes_service_label_team": "sre", "__meta_kubernetes_service_labelpresent_team": "true"})"));
    CHECK(g["targets"][1] == json::parse(R"({"__address__": "prometheus.monitoring.svc:10901",
        "__meta_kubernetes_service_port_name": "grpc", "__meta_kubernetes_service_port_number": "10901",
        "__meta_kubernetes_service_port_protocol": "TCP", "__meta_kubernetes_service_type": "ClusterIP",
        "__meta_kubernetes_service_cluster_ip": "10.96.0.20"})"));
    json ext = service();
    ext["spec"] = {{"type", "ExternalName"}, {"externalName", "prom.example.org"}, {"ports", {{{"name", "web"}, {"port", 80}, {"protocol", "TCP"}}}}};
    json t = service_group(ext)["targets"][0];
    CHECK(t["__meta_kubernetes_service_external_name"] == "prom.example.org");
    CHECK_FALSE(t.contains("__meta_kubernetes_service_cluster_ip"));
    json lb = service();
    lb["spec"]["type"] = "LoadBalancer";
    lb["status"] = {{"loadBalancer", {{"ingress", {{{"ip", "203.0.113.7"}}}}}}};
    CHECK(service_group(lb)["targets"][0]["__meta_kubernetes_service_loadbalancer_ip"] == "203.0.113.7");
}

TEST_CASE("k8s targets: endpoints role, ready and not-ready addresses, service and pod labels, uncovered ports", "[sd_k8s]") {
    const json eps = json::parse(R"({
      "metadata": {"name": "prometheus", "namespace": "monitoring", "labels": {"ep": "x"}},
      "subsets": [{"addresses": [{"ip": "10.1.2.3", "nodeName": "node-1", "hostname": "prom-0",
                                  "targetRef": {"kind": "Pod", "namespace": "monitoring", "name": "prom-0"}}],
                   "notReadyAddresses": [{"ip": "10.1.2.9"}],
                   "ports": [{"name": "web", "port": 9090, "protocol": "TCP"}]}]})");
    Objects pods{{"monitoring/prom-0", pod()}}, services{{"monitoring/prometheus", service()}};
    json g = endpoints_group(eps, {&pods, &services});
    CHECK(g["source"] == "endpoints/monitoring/prometheus");
    CHECK(g["labels"]["__meta_kubernetes_endpoints_name"] == "prometheus");
    CHECK(g["labels"]["__meta_kubernetes_endpoints_label_ep"] == "x");
    CHECK(g["labels"]["__meta_kubernetes_service_name"] == "prometheus");  // the Service's labels merged in
    CHECK(g["labels"]["__meta_kubernetes_service_label_team"] == "sre");
    REQUIRE(g["targets"].size() == 4);  // ready, not ready, and the pod's two ports the endpoints do not list
    json ready = g["targets"][0];
    CHECK(ready["__address__"] == "10.1.2.3:9090");
    CHECK(ready["__meta_kubernetes_endpoint_ready"] == "true");
    CHECK(ready["__meta_kubernetes_endpoint_port_name"] == "web");
    CHECK(ready["__meta_kubernetes_endpoint_port_protocol"] == "TCP");
    CHECK(ready["__meta_kubernetes_endpoint_node_name"] == "node-1");
    CHECK(ready["__meta_kubernetes_endpoint_hostname"] == "prom-0");
    CHECK(ready["__meta_kubernetes_endpoint_address_target_kind"] == "Pod");
    CHECK(ready["__meta_kubernetes_endpoint_address_target_name"] == "prom-0");
    CHECK(ready["__meta_kubernetes_pod_name"] == "prom-0");  // pod labels on the target
    CHECK(ready["__meta_kubernetes_pod_label_shard"] == "a");
    CHECK(ready["__meta_kubernetes_pod_container_name"] == "prometheus");  // the container whose port matched
    CHECK(ready["__meta_kubernetes_pod_container_port_name"] == "web");
    json not_ready = g["targets"][1];
    CHECK(not_ready == json::parse(R"({"__address__": "10.1.2.9:9090", "__meta_kubernetes_endpoint_port_name": "web",
        "__meta_kubernetes_endpoint_port_protocol": "TCP", "__meta_kubernetes_endpoint_ready": "false"})"));
    CHECK(g["targets"][2]["__address__"] == "10.1.2.3:10901");  // uncovered container ports of the pod
    CHECK(g["targets"][2]["__meta_kubernetes_pod_container_port_name"] == "grpc");
    CHECK(g["targets"][3]["__address__"] == "10.1.2.3:8080");
    CHECK(g["targets"][3]["__meta_kubernetes_pod_container_init"] == "true");
}

TEST_CASE("k8s targets: endpointslice role, IPv6, conditions, zone and app protocol", "[sd_k8s]") {
    const json slice = json::parse(R"({
      "metadata": {"name": "prometheus-abcde", "namespace": "monitoring", "labels": {"kubernetes.io/service-name": "prometheus"}},
      "addressType": "IPv6",
      "endpoints": [{"addresses": ["fd00::12"], "conditions": {"ready": true, "serving": true, "terminating": false},
                     "hostname": "prom-0", "nodeName": "node-1", "zone": "eu-1a"},
                    {"addresses": ["fd00::13"], "conditions": {"ready": false}}],
      "ports": [{"name": "web", "port": 9090, "protocol": "TCP", "appProtocol": "http"}]})");
    Objects pods, services{{"monitoring/prometheus", service()}};
    json g = endpointslice_group(slice, {&pods, &services});
    CHECK(g["source"] == "endpointslice/monitoring/prometheus-abcde");
    CHECK(g["labels"]["__meta_kubernetes_endpointslice_address_type"] == "IPv6");
    CHECK(g["labels"]["__meta_kubernetes_endpointslice_label_kubernetes_io_service_name"] == "prometheus");
    CHECK(g["labels"]["__meta_kubernetes_service_label_team"] == "sre");
    REQUIRE(g["targets"].size() == 2);
    CHECK(g["targets"][0] == json::parse(R"({"__address__": "[fd00::12]:9090",
        "__meta_kubernetes_endpointslice_port": "9090", "__meta_kubernetes_endpointslice_port_name": "web",
        "__meta_kubernetes_endpointslice_port_protocol": "TCP", "__meta_kubernetes_endpointslice_port_app_protocol": "http",
        "__meta_kubernetes_endpointslice_endpoint_conditions_ready": "true",
        "__meta_kubernetes_endpointslice_endpoint_conditions_serving": "true",
        "__meta_kubernetes_endpointslice_endpoint_conditions_terminating": "false",
        "__meta_kubernetes_endpointslice_endpoint_hostname": "prom-0",
        "__meta_kubernetes_endpointslice_endpoint_node_name": "node-1",
        "__meta_kubernetes_endpointslice_endpoint_zone": "eu-1a"})"));
    CHECK(g["targets"][1]["__meta_kubernetes_endpointslice_endpoint_conditions_ready"] == "false");
    CHECK_FALSE(g["targets"][1].contains("__meta_kubernetes_endpointslice_endpoint_conditions_serving"));
}

TEST_CASE("k8s targets: node role, address priority, every address type, conditions", "[sd_k8s]") {
    const json node = json::parse(R"({
      "metadata": {"name": "node-1", "labels": {"topology.kubernetes.io/zone": "eu-1a"}},
      "spec": {"providerID": "aws:///eu-1a/i-0abc"},
      "status": {"addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "ExternalIP", "address": "203.0.113.5"},
                               {"type": "InternalIP", "address": "10.0.0.5"}, {"type": "InternalIP", "address": "10.0.0.6"}],
                 "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                 "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}]}})");
    json g = node_group(node);
    CHECK(g["source"] == "node/node-1");
    CHECK(g["labels"] == json::parse(R"({"__meta_kubernetes_node_name": "node-1",
        "__meta_kubernetes_node_provider_id": "aws:///eu-1a/i-0abc",
        "__meta_kubernetes_node_label_topology_kubernetes_io_zone": "eu-1a",
        "__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone": "true",
        "__meta_kubernetes_node_condition_ready": "true", "__meta_kubernetes_node_condition_memorypressure": "false"})"));
    CHECK(g["targets"] == json::parse(R"([{"__address__": "10.0.0.5:10250", "instance": "node-1",
        "__meta_kubernetes_node_address_Hostname": "node-1", "__meta_kubernetes_node_address_ExternalIP": "203.0.113.5",
        "__meta_kubernetes_node_address_InternalIP": "10.0.0.5"}])"));
    json bare = node;
    bare["status"]["addresses"] = json::array();
    CHECK(node_group(bare)["targets"].empty());
}

TEST_CASE("k8s targets: objects that lack fields make groups, not crashes", "[sd_k8s]") {
    const json nothing = json::parse(R"({"metadata": {"name": "x", "namespace": "n"}})");
    Objects none;
    CHECK(pod_group(nothing)["targets"].empty());
    CHECK(service_group(nothing)["targets"].empty());
    CHECK(endpoints_group(nothing, {&none, &none})["targets"].empty());
    CHECK(endpointslice_group(nothing, {&none, &none})["targets"].empty());
    CHECK(node_group(nothing)["targets"].empty());
    const json odd = json::parse(R"({"metadata": {"name": 5, "labels": [1]}, "spec": "no", "status": {"podIP": 7, "addresses": "x"}})");
    CHECK_NOTHROW(pod_group(odd));
    CHECK_NOTHROW(node_group(odd));
    CHECK(sanitize_label_name("app.kubernetes.io/name-x") == "app_kubernetes_io_name_x");
}

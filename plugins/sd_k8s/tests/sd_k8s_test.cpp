// sd_k8s as herd runs it, against the Kubernetes double: list + watch, every way a watch ends or
// breaks, authentication and its failures, kubeconfig, the mpp shortcuts.
#include "discovery_fixture.hpp"
#include "k8s_double.hpp"
#include "kube_api.hpp"
#include "curl_http.hpp"
#include "support.hpp"
#include "tls.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace herd;
using Catch::Matchers::Contains;
using nlohmann::json;
using test::K8sDouble;
using test::RunningDiscovery;
using Addresses = std::set<std::string>;

namespace {

json pod(const std::string& name, const std::string& ip, bool ready = true, const std::string& app = "prometheus") {
    return {{"metadata", {{"name", name}, {"namespace", "monitoring"}, {"labels", {{"app", app}}}}},
            {"spec", {{"containers", {{{"name", "prometheus"}, {"image", "prom"},
                                       {"ports", {{{"name", "web"}, {"containerPort", 9090}, {"protocol", "TCP"}},
                                                  {{"name", "metrics-udp"}, {"containerPort", 9091}, {"protocol", "UDP"}}}}}}}}},
            {"status", {{"phase", "Running"}, {"podIP", ip}, {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
}

json endpoints(const std::vector<std::string>& ready, const std::vector<std::string>& not_ready = {}) {
    json addrs = json::array(), nr = json::array();
    for (const auto& ip : ready) addrs.push_back({{"ip", ip}});
    for (const auto& ip : not_ready) nr.push_back({{"ip", ip}});
    return {{"metadata", {{"name", "prometheus"}, {"namespace", "monitoring"}}},
            {"subsets", {{{"addresses", addrs}, {"notReadyAddresses", nr},
                          {"ports", {{{"name", "web"}, {"port", 9090}, {"protocol", "TCP"}}, {{"name", "grpc"}, {"port", 10901}, {"protocol", "TCP"}}}}}}}};
}

std::string config(const K8sDouble& k8s, const std::string& extra) {
    return R"({"api_server": ")" + k8s.url() + R"(", "timeout": "2s")" + extra + "}";
}

}  // namespace

TEST_CASE("sd_k8s: pods are listed, then followed by the watch", "[sd_k8s]") {
    K8sDouble k8s;
    k8s.apply("pods", pod("prom-0", "10.0.0.1"));
    k8s.apply("pods", pod("other", "10.0.0.9", true, "grafana"));
    test::TempDir dir;
    RunningDiscovery sd("sd_k8s", config(k8s, R"(, "role": "pod", "namespaces": ["monitoring"], "label_selector": "app=prometheus")"), dir.path());
    REQUIRE(test::eventually([&] { return sd.addresses() == Addresses{"10.0.0.1:9090", "10.0.0.1:9091"}; }));
    CHECK(k8s.saw_query("labelSelector=app%3Dprometheus"));
    auto g = sd.groups().at(0);
    CHECK(g.source == "pod/monitoring/prom-0");
    CHECK(g.labels.at("__meta_kubernetes_pod_label_app") == "prometheus");

    k8s.apply("pods", pod("prom-1", "10.0.0.2"));  // ADDED
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.2:9090") == 1; }));
    k8s.apply("pods", pod("prom-1", "10.0.0.3"));  // MODIFIED: a new IP
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.3:9090") == 1 && sd.addresses().count("10.0.0.2:9090") == 0; }));
    k8s.remove("pods", "monitoring", "prom-0");  // DELETED: its group empties
    REQUIRE(test::eventually([&] { return sd.addresses() == Addresses{"10.0.0.3:9090", "10.0.0.3:9091"}; }));
    CHECK(k8s.lists() == 1);  // one list, then only the watch
    const std::string m = sd.reg.render();
    CHECK_THAT(m, Contains("herd_sd_k8s_lists_total{discovery=\"sd\"} 1") && Contains("herd_sd_k8s_watch_events_total{discovery=\"sd\"} 3") &&
                  Contains("herd_sd_k8s_objects{discovery=\"sd\"} 1"));
}

TEST_CASE("sd_k8s: 410 as an HTTP status and as an in-stream ERROR both lead to a relist", "[sd_k8s]") {
    K8sDouble k8s;
    k8s.apply("pods", pod("prom-0", "10.0.0.1"));
    test::TempDir dir;
    RunningDiscovery sd("sd_k8s", config(k8s, R"(, "role": "pod", "watch_timeout": "1s")"), dir.path());
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.1:9090") == 1; }));

    // The history is gone: the next watch (after this one's timeoutSeconds) gets HTTP 410.
    k8s.compact();
    k8s.expire_next_watch(K8sDouble::Expire::http_status);
    REQUIRE(test::eventually([&] { return k8s.lists() >= 2; }, std::chrono::seconds(10)));
    k8s.remove("pods", "monitoring", "prom-0");
    k8s.apply("pods", pod("prom-1", "10.0.0.2"));
    REQUIRE(test::eventually([&] { return sd.addresses() == Addresses{"10.0.0.2:9090", "10.0.0.2:9091"}; }));
    const size_t lists = k8s.lists();

    k8s.expire_next_watch(K8sDouble::Expire::in_stream);
    REQUIRE(test::eventually([&] { return k8s.lists() > lists; }));
    k8s.apply("pods", pod("prom-2", "10.0.0.3"));
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.3:9090") == 1; }));
    CHECK_FALSE(sd.failing());  // a 410 is routine, not an error
}

TEST_CASE("sd_k8s: a watch ended by timeoutSeconds, cut mid-line, or of bookmarks only resumes without a relist", "[sd_k8s]") {
    K8sDouble k8s;
    test::TempDir dir;
    RunningDiscovery sd("sd_k8s", config(k8s, R"(, "role": "pod", "watch_timeout": "1s")"), dir.path());
    REQUIRE(test::eventually([&] { return k8s.watches() >= 1; }));
    k8s.apply("pods", pod("a", "10.0.0.1"));
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.1:9090") == 1; }));
    const size_t watches = k8s.watches();
    REQUIRE(test::eventually([&] { return k8s.watches() > watches; }, std::chrono::seconds(10)));  // timeoutSeconds passed
    k8s.apply("pods", pod("b", "10.0.0.2"));
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.2:9090") == 1; }));

    k8s.cut_next_watch_mid_line();
    const size_t before_cut = k8s.watches();
    REQUIRE(test::eventually([&] { return k8s.watches() > before_cut; }, std::chrono::seconds(10)));
    k8s.apply("pods", pod("c", "10.0.0.3"));  // delivered half, then the connection drops ...
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.3:9090") == 1; }, std::chrono::seconds(10)));  // ... and again whole

    k8s.bookmarks_only_next_watch();
    k8s.apply("pods", pod("d", "10.0.0.4"));
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.4:9090") == 1; }, std::chrono::seconds(10)));
    CHECK(k8s.lists() == 1);
    CHECK(sd.addresses().size() == 8);
}

TEST_CASE("sd_k8s: endpoints of a Service with the mpp shortcuts: one port, ready only", "[sd_k8s]") {
    K8sDouble k8s;
    k8s.apply("endpoints", endpoints({"10.0.0.1", "10.0.0.2"}, {"10.0.0.3"}));
    test::TempDir dir;
    RunningDiscovery all("sd_k8s", config(k8s, R"(, "service": "prometheus")"), dir.path(), "all");
    RunningDiscovery web("sd_k8s", config(k8s, R"(, "service": "prometheus", "port": 10901, "ready_only": true)"), dir.path(), "web");
    // Default: each address's first TCP port (ready or not); with port and ready_only: exactly that.
    REQUIRE(test::eventually([&] { return all.addresses() == Addresses{"10.0.0.1:9090", "10.0.0.2:9090", "10.0.0.3:9090"}; }));
    REQUIRE(test::eventually([&] { return web.addresses() == Addresses{"10.0.0.1:10901", "10.0.0.2:10901"}; }));
    CHECK(k8s.saw_query("fieldSelector=metadata.name%3Dprometheus"));
    // A replica appears (scaled up): it is a backend without a restart.
    k8s.apply("endpoints", endpoints({"10.0.0.1", "10.0.0.2", "10.0.0.4"}));
    REQUIRE(test::eventually([&] { return web.addresses().count("10.0.0.4:10901") == 1; }));
}

TEST_CASE("sd_k8s: a wrong token, a 401 then success, and a rotated token file", "[sd_k8s]") {
    K8sDouble::Options o;
    o.token = "first";
    K8sDouble k8s(o);
    k8s.apply("pods", pod("a", "10.0.0.1"));
    test::TempDir dir;
    test::write_file(dir / "token", "first\n");
    {
        RunningDiscovery wrong("sd_k8s", config(k8s, R"(, "role": "pod", "bearer_token": "nope")"), dir.path());
        REQUIRE(test::eventually([&] { return wrong.failing(); }));
        CHECK_THAT(wrong.last_error(), Contains("401") && Contains(k8s.url()));
        CHECK(wrong.addresses().empty());
    }
    k8s.unauthorized_next(1);  // one 401, then the token works
    RunningDiscovery sd("sd_k8s", config(k8s, R"(, "role": "pod", "bearer_token_file": "token")"), dir.path());
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.1:9090") == 1; }, std::chrono::seconds(10)));
    // The server rotates the token and the file follows: the next requests use the new one.
    k8s.set_token("second");
    test::write_file_atomic(dir / "token", "second\n");
    k8s.expire_next_watch(K8sDouble::Expire::in_stream);  // force a new list and watch
    k8s.apply("pods", pod("b", "10.0.0.2"));
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.2:9090") == 1; }, std::chrono::seconds(15)));
}

TEST_CASE("sd_k8s: malformed answers and an unreachable server keep the last good groups", "[sd_k8s]") {
    K8sDouble k8s;
    k8s.apply("pods", pod("a", "10.0.0.1"));
    test::TempDir dir;
    k8s.malformed_next_list();
    RunningDiscovery sd("sd_k8s", config(k8s, R"(, "role": "pod", "watch_timeout": "1s")"), dir.path());
    REQUIRE(test::eventually([&] { return !sd.last_error().empty(); }));
    CHECK_THAT(sd.last_error(), Contains("malformed"));
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.1:9090") == 1; }, std::chrono::seconds(10)));  // retried

    k8s.server().stop();  // the API server goes away: errors, the last groups stay
    REQUIRE(test::eventually([&] { return sd.failing(); }, std::chrono::seconds(15)));
    CHECK(sd.addresses().count("10.0.0.1:9090") == 1);
    CHECK_THAT(sd.reg.render(), Contains("herd_discovery_errors_total{discovery=\"sd\"}"));
    k8s.server().start();
    k8s.apply("pods", pod("b", "10.0.0.2"));
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.2:9090") == 1; }, std::chrono::seconds(40)));
}

TEST_CASE("sd_k8s: kubeconfig with a chosen context, and configuration errors", "[sd_k8s]") {
    K8sDouble::Options o;
    o.token = "kube-token";
    K8sDouble k8s(o);
    k8s.apply("nodes", json::parse(R"({"metadata": {"name": "n1"}, "status": {"addresses": [{"type": "InternalIP", "address": "10.9.0.1"}],
                                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}})"));
    test::TempDir dir;
    test::write_file(dir / "kubeconfig",
                     "apiVersion: v1\nkind: Config\ncurrent-context: broken\n"
                     "clusters:\n- name: c\n  cluster:\n    server: " + k8s.url() + "\n"
                     "- name: nowhere\n  cluster:\n    server: http://127.0.0.1:1\n"
                     "users:\n- name: u\n  user:\n    token: kube-token\n"
                     "contexts:\n- name: good\n  context: {cluster: c, user: u, namespace: monitoring}\n"
                     "- name: broken\n  context: {cluster: nowhere, user: u}\n");
    RunningDiscovery sd("sd_k8s", R"({"kubeconfig": "kubeconfig", "context": "good", "role": "node"})", dir.path());
    REQUIRE(test::eventually([&] { return sd.addresses() == Addresses{"10.9.0.1:10250"}; }));

    metrics::Registry reg;
    plugins::PluginRegistry plugins(reg, false);
    auto r = plugins.load(test::plugin_dir() / "sd_k8s.so");
    REQUIRE(r.plugin);
    auto create = [&](const std::string& cfg) {
        plugins::CreateError err;
        auto inst = plugins::Instance::create(r.plugin, r.plugin->factories.at(0), "k", cfg, dir.path(), dir.path(), &err);
        CHECK_FALSE(inst);
        return err.key + ": " + err.message;
    };
    CHECK_THAT(create(R"({"kubeconfig": "kubeconfig", "context": "nope", "role": "pod"})"), Contains("no context named \"nope\""));
    CHECK_THAT(create(R"({"kubeconfig": "missing", "role": "pod"})"), Contains("kubeconfig"));
    CHECK_THAT(create(R"({"api_server": "http://x", "role": "pods"})"), Contains("role") && Contains("not a role"));
    CHECK_THAT(create(R"({"api_server": "http://x"})"), Contains("role"));
    CHECK_THAT(create(R"({"api_server": "http://x", "service": "a", "pod_selector": "b=c"})"), Contains("pod_selector"));
    CHECK_THAT(create(R"({"api_server": "http://x", "role": "pod", "namespace": "typo"})"), Contains("namespace"));
}

TEST_CASE("sd_k8s: kubeconfig with CA and client certificate as data, current-context, over TLS", "[sd_k8s][tls]") {
    K8sDouble k8s;
    k8s.apply("pods", pod("a", "10.0.0.1"));
    test::TempDir pki;
    test::make_pki(pki.path());
    test::TlsTerminator tls(pki.path(), k8s.server().port());  // Debian's nginx: TLS, client certificate required
    auto b64 = [&](const std::string& file) { return net::base64(test::read_file(pki / file)); };
    test::TempDir dir;
    auto kubeconfig = [&](const std::string& ca) {
        return "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
               "clusters:\n- name: c\n  cluster:\n    server: " + tls.url() + "\n    certificate-authority-data: " + b64(ca) + "\n"
               "users:\n- name: u\n  user:\n    client-certificate-data: " + b64("client.crt") + "\n    client-key-data: " + b64("client.key") + "\n"
               "contexts:\n- name: prod\n  context: {cluster: c, user: u}\n";
    };
    test::write_file(dir / "good.yaml", kubeconfig("ca.crt"));
    RunningDiscovery sd("sd_k8s", R"({"kubeconfig": "good.yaml", "role": "pod"})", dir.path(), "good");
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.1:9090") == 1; }));
    k8s.apply("pods", pod("b", "10.0.0.2"));  // the watch streams through TLS too
    REQUIRE(test::eventually([&] { return sd.addresses().count("10.0.0.2:9090") == 1; }));

    // insecure-skip-tls-verify instead of a CA: accepted without checking the server.
    std::string insecure = kubeconfig("ca.crt");
    insecure.replace(insecure.find("    certificate-authority-data: "), insecure.find("\nusers:") - insecure.find("    certificate-authority-data: "),
                     "    insecure-skip-tls-verify: true");
    test::write_file(dir / "insecure.yaml", insecure);
    RunningDiscovery unchecked("sd_k8s", R"({"kubeconfig": "insecure.yaml", "role": "pod"})", dir.path(), "insecure");
    REQUIRE(test::eventually([&] { return unchecked.addresses().count("10.0.0.1:9090") == 1; }));

    test::write_file(dir / "wrong.yaml", kubeconfig("other.crt"));  // a CA that did not sign the server
    RunningDiscovery wrong("sd_k8s", R"({"kubeconfig": "wrong.yaml", "role": "pod"})", dir.path(), "wrong");
    REQUIRE(test::eventually([&] { return wrong.failing(); }));
    CHECK_THAT(wrong.last_error(), Contains(tls.url()) && (Contains("certificate") || Contains("SSL")));
    CHECK(wrong.addresses().empty());
}

TEST_CASE("sd_k8s: an expired server certificate and a slow API server are clear errors", "[sd_k8s][tls]") {
    K8sDouble k8s;
    k8s.apply("pods", pod("a", "10.0.0.1"));
    test::TempDir pki;
    test::make_pki(pki.path());
    test::expire_certificate(pki.path(), "server");
    test::TlsTerminator tls(pki.path(), k8s.server().port());
    test::TempDir dir;
    const std::string p = pki.path().string();
    RunningDiscovery expired("sd_k8s", R"({"api_server": ")" + tls.url() + R"(", "ca_file": ")" + p + R"(/ca.crt", "cert_file": ")" + p +
                                           R"(/client.crt", "key_file": ")" + p + R"(/client.key", "role": "pod"})", dir.path(), "expired");
    REQUIRE(test::eventually([&] { return expired.failing(); }));
    CHECK_THAT(expired.last_error(), Contains("expired"));

    // An expired client certificate: the server refuses it; herd says who refused what.
    test::TempDir pki2;
    test::make_pki(pki2.path());
    test::expire_certificate(pki2.path(), "client");
    test::TlsTerminator tls2(pki2.path(), k8s.server().port());
    const std::string p2 = pki2.path().string();
    RunningDiscovery old_cert("sd_k8s", R"({"api_server": ")" + tls2.url() + R"(", "ca_file": ")" + p2 + R"(/ca.crt", "cert_file": ")" + p2 +
                                            R"(/client.crt", "key_file": ")" + p2 + R"(/client.key", "role": "pod"})", dir.path(), "old-cert");
    REQUIRE(test::eventually([&] { return old_cert.failing(); }));
    CHECK_THAT(old_cert.last_error(), Contains(tls2.url()) && Contains("400"));
    CHECK(old_cert.addresses().empty());

    k8s.slow(std::chrono::milliseconds(2500));  // slower than the configured timeout
    RunningDiscovery slow("sd_k8s", config(k8s, R"(, "role": "pod", "timeout": "1s")"), dir.path(), "slow");
    REQUIRE(test::eventually([&] { return slow.failing(); }));
    CHECK_THAT(slow.last_error(), Contains("no answer within 1000 ms") && Contains(k8s.url()));
    k8s.slow(std::chrono::milliseconds(0));
    REQUIRE(test::eventually([&] { return slow.addresses().count("10.0.0.1:9090") == 1; }, std::chrono::seconds(15)));
}

TEST_CASE("sd_k8s: in-cluster configuration from the environment and the service account", "[sd_k8s]") {
    test::TempDir sa;
    test::write_file(sa / "token", "tok\n");
    test::write_file(sa / "ca.crt", "pem");
    test::write_file(sa / "namespace", "monitoring");
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    CHECK_FALSE(sd_k8s::in_cluster(sa.path().string()));  // not in a cluster
    ::setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    auto c = sd_k8s::in_cluster(sa.path().string());
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    ::unsetenv("KUBERNETES_SERVICE_PORT");
    REQUIRE(c);
    CHECK(c->server == "https://[fd00::1]:443");
    CHECK(c->token_file == (sa / "token").string());
    CHECK(c->tls.ca_file == (sa / "ca.crt").string());
    CHECK(c->default_namespace == "monitoring");
}

TEST_CASE("sd_k8s: a change to a pod or Service behind an Endpoints object updates its group", "[sd_k8s]") {
    K8sDouble k8s;
    json eps = endpoints({"10.0.0.1"});
    eps["subsets"][0]["addresses"][0]["targetRef"] = {{"kind", "Pod"}, {"namespace", "monitoring"}, {"name", "prom-0"}};
    k8s.apply("endpoints", eps);
    k8s.apply("pods", pod("prom-0", "10.0.0.1"));
    test::TempDir dir;
    RunningDiscovery sd("sd_k8s", config(k8s, R"(, "role": "endpoints", "namespaces": ["monitoring"])"), dir.path());
    auto target_label = [&](const std::string& name) {
        for (const auto& g : sd.groups())
            for (const auto& t : g.targets)
                if (t.at("__address__") == "10.0.0.1:9090" && t.count(name)) return t.at(name);
        return std::string();
    };
    auto group_label = [&](const std::string& name) {
        for (const auto& g : sd.groups())
            if (g.labels.count(name)) return g.labels.at(name);
        return std::string();
    };
    REQUIRE(test::eventually([&] { return target_label("__meta_kubernetes_pod_label_app") == "prometheus"; }));
    k8s.apply("pods", pod("prom-0", "10.0.0.1", true, "thanos"));  // the pod's labels change
    REQUIRE(test::eventually([&] { return target_label("__meta_kubernetes_pod_label_app") == "thanos"; }));
    k8s.apply("services", {{"metadata", {{"name", "prometheus"}, {"namespace", "monitoring"}, {"labels", {{"tier", "query"}}}}},
                           {"spec", {{"clusterIP", "10.96.0.1"}, {"ports", json::array()}}}});  // its Service appears
    REQUIRE(test::eventually([&] { return group_label("__meta_kubernetes_service_label_tier") == "query"; }));
    k8s.remove("endpoints", "monitoring", "prometheus");  // the Endpoints object goes: its group is withdrawn
    REQUIRE(test::eventually([&] { return sd.addresses().empty(); }));
}

TEST_CASE("sd_k8s: herd sd prints its target groups as file_sd JSON with the meta labels", "[sd_k8s][sd-cli]") {
    K8sDouble k8s;
    k8s.apply("pods", pod("prom-0", "10.0.0.1"));
    test::TempDir dir;
    test::write_file(dir / "herd.toml", "[host]\ndata_dir = \"data\"\n[[discovery]]\nname = \"k8s\"\nplugin = \"sd_k8s\"\napi_server = \"" +
                                            k8s.url() + "\"\nrole = \"pod\"\n");
    auto r = test::run({test::herd_binary().string(), "sd", "-c", (dir / "herd.toml").string(), "--discovery", "k8s", "--once"});
    REQUIRE(r.code == 0);
    json groups = json::parse(r.out);
    REQUIRE(groups.size() == 2);  // one per container port: file_sd has no per-target labels
    CHECK(groups[0]["targets"] == json::array({"10.0.0.1:9090"}));
    CHECK(groups[0]["labels"]["__meta_kubernetes_pod_name"] == "prom-0");
    CHECK(groups[0]["labels"]["__meta_kubernetes_pod_container_port_name"] == "web");
}

namespace {
// The labels of the target at `address` (group labels merged under the target's), or {}.
std::map<std::string, std::string> labels_of(const RunningDiscovery& sd, const std::string& address) {
    for (const auto& g : sd.groups())
        for (const auto& t : g.targets)
            if (t.at("__address__") == address) {
                std::map<std::string, std::string> out(g.labels.begin(), g.labels.end());
                for (const auto& [k, v] : t) out[k] = v;
                return out;
            }
    return {};
}
}  // namespace

TEST_CASE("sd_k8s: attach_metadata and selectors as Prometheus configures them, kept current by their own watches", "[sd_k8s]") {
    K8sDouble k8s;
    json p = pod("web-1", "10.0.0.1");
    p["spec"]["nodeName"] = "node-a";
    p["metadata"]["ownerReferences"] = json::parse(R"([{"kind": "ReplicaSet", "name": "web-6d4f", "controller": true}])");
    k8s.apply("pods", p);
    k8s.apply("pods", pod("other", "10.0.0.9", true, "grafana"));
    k8s.apply("nodes", {{"metadata", {{"name", "node-a"}, {"labels", {{"zone", "z1"}}}}}});
    k8s.apply("namespaces", {{"metadata", {{"name", "monitoring"}, {"labels", {{"team", "sre"}}}}}});
    k8s.apply("replicasets", {{"metadata", {{"name", "web-6d4f"}, {"namespace", "monitoring"},
                                            {"ownerReferences", {{{"kind", "Deployment"}, {"name", "web"}, {"controller", true}}}}}}});
    test::TempDir dir;
    RunningDiscovery sd("sd_k8s", config(k8s, R"(, "role": "pod", "namespaces": {"names": ["monitoring"]},
        "selectors": [{"role": "pod", "label": "app=prometheus"}],
        "attach_metadata": {"node": true, "namespace": true, "deployment": true})"), dir.path());
    REQUIRE(test::eventually([&] { return !labels_of(sd, "10.0.0.1:9090").empty(); }));
    auto l = labels_of(sd, "10.0.0.1:9090");
    CHECK(l["__meta_kubernetes_node_label_zone"] == "z1");
    CHECK(l["__meta_kubernetes_namespace_label_team"] == "sre");
    CHECK(l["__meta_kubernetes_pod_deployment_name"] == "web");
    CHECK(labels_of(sd, "10.0.0.9:9090").empty());  // the pod selector
    CHECK(k8s.saw_query("labelSelector=app%3Dprometheus"));

    // A node's labels change: the pods on it get the new ones, from the node watch alone.
    k8s.apply("nodes", {{"metadata", {{"name", "node-a"}, {"labels", {{"zone", "z2"}}}}}});
    CHECK(test::eventually([&] { return labels_of(sd, "10.0.0.1:9090")["__meta_kubernetes_node_label_zone"] == "z2"; }));
    k8s.apply("namespaces", {{"metadata", {{"name", "monitoring"}, {"labels", {{"team", "platform"}}}}}});
    CHECK(test::eventually([&] { return labels_of(sd, "10.0.0.1:9090")["__meta_kubernetes_namespace_label_team"] == "platform"; }));
    // Without its node a pod has no target (Prometheus waits for the node as well).
    k8s.remove("nodes", "", "node-a");
    CHECK(test::eventually([&] { return labels_of(sd, "10.0.0.1:9090").empty(); }));
}

TEST_CASE("sd_k8s: role ingress from networking.k8s.io/v1", "[sd_k8s]") {
    K8sDouble k8s;
    k8s.apply("ingresses", json::parse(R"({"metadata": {"name": "shop", "namespace": "web"},
      "spec": {"tls": [{"hosts": ["*.example.com"]}], "rules": [{"host": "shop.example.com", "http": {"paths": [{"path": "/api"}]}}]}})"));
    test::TempDir dir;
    RunningDiscovery sd("sd_k8s", config(k8s, R"(, "role": "ingress")"), dir.path());
    REQUIRE(test::eventually([&] { return !labels_of(sd, "shop.example.com").empty(); }));
    auto l = labels_of(sd, "shop.example.com");
    CHECK(l["__meta_kubernetes_ingress_scheme"] == "https");
    CHECK(l["__meta_kubernetes_ingress_path"] == "/api");
    CHECK(l["__meta_kubernetes_namespace"] == "web");
    k8s.remove("ingresses", "web", "shop");
    CHECK(test::eventually([&] { return sd.addresses().empty(); }));
}

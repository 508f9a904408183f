// The Kubernetes double checked against the reference (../shared/reference/kubernetes-api.md)
// with a plain HTTP client: list shape, watch from a version exactly or with synthetic ADDED,
// bookmarks, timeoutSeconds, both forms of 410, selectors, pagination, auth.
#include "http_client.hpp"
#include "k8s_double.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

using namespace herd;
using nlohmann::json;
using test::K8sDouble;

namespace {

json pod(const std::string& name, const std::string& app) {
    return {{"metadata", {{"name", name}, {"namespace", "ns"}, {"labels", {{"app", app}}}}}, {"status", {{"podIP", "10.0.0.1"}}}};
}

std::vector<json> events(const std::string& body) {  // the chunked body, decoded by the client
    std::vector<json> out;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

}  // namespace

TEST_CASE("k8s double: lists, selectors, pagination", "[doubles][k8s]") {
    K8sDouble k8s;
    k8s.apply("pods", pod("a", "x"));
    k8s.apply("pods", pod("b", "y"));
    const std::string rv = k8s.apply("pods", pod("c", "x"));
    test::HttpConnection c(k8s.server().port());
    auto list = json::parse(c.get("/api/v1/namespaces/ns/pods").body);
    CHECK(list["kind"] == "PodList");
    CHECK(list["metadata"]["resourceVersion"] == rv);
    CHECK(list["items"].size() == 3);
    CHECK_FALSE(list["items"][0].contains("kind"));
    CHECK(json::parse(c.get("/api/v1/pods?labelSelector=app%3Dx").body)["items"].size() == 2);
    CHECK(json::parse(c.get("/api/v1/pods?labelSelector=app!%3Dx").body)["items"].size() == 1);
    CHECK(json::parse(c.get("/api/v1/pods?fieldSelector=metadata.name%3Db").body)["items"].size() == 1);
    CHECK(json::parse(c.get("/api/v1/namespaces/other/pods").body)["items"].empty());
    auto page = json::parse(c.get("/api/v1/pods?limit=2").body);
    CHECK(page["items"].size() == 2);
    REQUIRE(page["metadata"]["continue"] == "2");
    CHECK(json::parse(c.get("/api/v1/pods?limit=2&continue=2").body)["items"].size() == 1);
    CHECK(c.get("/api/v1/widgets").status == 404);
}

TEST_CASE("k8s double: watch from a version exactly, or synthetic ADDED from none, timeoutSeconds ends it", "[doubles][k8s]") {
    K8sDouble k8s;
    k8s.apply("pods", pod("a", "x"));
    const std::string rv = k8s.apply("pods", pod("b", "x"));
    k8s.apply("pods", pod("a", "z"));
    k8s.remove("pods", "ns", "b");
    test::HttpConnection c(k8s.server().port());
    auto exact = events(c.get("/api/v1/pods?watch=1&resourceVersion=" + rv + "&timeoutSeconds=1").body);
    REQUIRE(exact.size() == 2);
    CHECK(exact[0]["type"] == "MODIFIED");
    CHECK(exact[1]["type"] == "DELETED");
    CHECK(exact[1]["object"]["kind"] == "Pod");
    auto synthetic = events(c.get("/api/v1/pods?watch=1&timeoutSeconds=1").body);
    REQUIRE(synthetic.size() == 1);
    CHECK(synthetic[0]["type"] == "ADDED");
    CHECK(synthetic[0]["object"]["metadata"]["name"] == "a");
}

TEST_CASE("k8s double: bookmarks, 410 as status and in-stream, 401", "[doubles][k8s]") {
    K8sDouble::Options o;
    o.bookmark_interval = std::chrono::milliseconds(200);
    o.token = "t";
    K8sDouble k8s(o);
    const std::string rv = k8s.apply("pods", pod("a", "x"));
    test::HttpConnection c(k8s.server().port());
    const std::map<std::string, std::string> auth{{"Authorization", "Bearer t"}};
    auto denied = c.get("/api/v1/pods");
    CHECK(denied.status == 401);
    CHECK(json::parse(denied.body)["reason"] == "Unauthorized");
    auto marks = events(c.get("/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=" + rv, auth).body);
    REQUIRE_FALSE(marks.empty());
    CHECK(marks[0]["type"] == "BOOKMARK");
    CHECK(marks[0]["object"]["metadata"]["resourceVersion"] == rv);
    k8s.apply("pods", pod("b", "x"));
    k8s.compact();  // the history up to now is gone: a watch from before it expires
    auto gone = c.get("/api/v1/pods?watch=1&timeoutSeconds=1&resourceVersion=" + rv, auth);
    CHECK(gone.status == 410);
    CHECK(json::parse(gone.body)["reason"] == "Expired");
    k8s.expire_next_watch(K8sDouble::Expire::in_stream);
    auto in_stream = c.get("/api/v1/pods?watch=1&timeoutSeconds=1&resourceVersion=" + k8s.apply("pods", pod("c", "x")), auth);
    CHECK(in_stream.status == 200);
    auto err = events(in_stream.body);
    REQUIRE(err.size() == 1);
    CHECK(err[0]["type"] == "ERROR");
    CHECK(err[0]["object"]["code"] == 410);
}

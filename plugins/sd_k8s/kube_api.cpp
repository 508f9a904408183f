#include "kube_api.hpp"

#include <herd/sdk/error.hpp>

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace herd::sd_k8s {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

YAML::Node named(const YAML::Node& list, const std::string& name, const std::string& what, const std::string& file) {
    if (list && list.IsSequence())
        for (const auto& n : list)
            if (n["name"] && n["name"].as<std::string>() == name) return n;
    throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, file + ": no " + what + " named \"" + name + "\"");
}

std::string get(const YAML::Node& n, const char* key) { return n && n[key] ? n[key].as<std::string>() : std::string(); }

}  // namespace

std::string query_escape(const std::string& s) { return net::url_escape(s); }

Connection from_kubeconfig(const std::string& path, const std::string& context) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const std::exception& e) {
        throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "kubeconfig " + path + ": " + e.what());
    }
    const std::string ctx_name = context.empty() ? get(root, "current-context") : context;
    if (ctx_name.empty()) throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "kubeconfig " + path + ": no current-context; name one with context = \"...\"");
    const YAML::Node ctx = named(root["contexts"], ctx_name, "context", path)["context"];
    const YAML::Node cluster = named(root["clusters"], get(ctx, "cluster"), "cluster", path)["cluster"];
    const std::string base = fs::path(path).parent_path().string();
    auto rel = [&](std::string p) { return p.empty() || p.front() == '/' ? p : base + "/" + p; };
    auto data = [&](const YAML::Node& n, const char* key) {
        const std::string b64 = get(n, key);
        try {
            return b64.empty() ? std::string() : net::unbase64(b64);
        } catch (const std::exception&) {
            throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "kubeconfig " + path + ": " + key + " is not base64");
        }
    };
    Connection c;
    c.described = "kubeconfig " + path + ", context " + ctx_name;
    c.server = get(cluster, "server");
    if (c.server.empty()) throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "kubeconfig " + path + ": cluster \"" + get(ctx, "cluster") + "\" has no server");
    while (c.server.back() == '/') c.server.pop_back();
    c.tls.ca_pem = data(cluster, "certificate-authority-data");
    c.tls.ca_file = rel(get(cluster, "certificate-authority"));
    c.tls.insecure_skip_verify = cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();
    c.default_namespace = get(ctx, "namespace");
    if (const std::string user_name = get(ctx, "user"); !user_name.empty()) {
        const YAML::Node user = named(root["users"], user_name, "user", path)["user"];
        c.token = get(user, "token");
        c.token_file = rel(get(user, "tokenFile"));
        c.tls.cert_pem = data(user, "client-certificate-data");
        c.tls.key_pem = data(user, "client-key-data");
        c.tls.cert_file = rel(get(user, "client-certificate"));
        c.tls.key_file = rel(get(user, "client-key"));
        c.username = get(user, "username");
        c.password = get(user, "password");
    }
    return c;
}

std::optional<Connection> in_cluster(const std::string& sa_dir) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !port || !*host || !*port) return std::nullopt;
    Connection c;
    const std::string h = host;
    c.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
    c.token_file = sa_dir + "/token";
    c.tls.ca_file = sa_dir + "/ca.crt";
    std::ifstream ns(sa_dir + "/namespace");
    std::getline(ns, c.default_namespace);
    c.described = "in-cluster service account";
    return c;
}

KubeClient::KubeClient(Connection c, std::chrono::milliseconds timeout) : c_(std::move(c)), timeout_(timeout), http_(c_.tls) {}

net::HttpRequest KubeClient::request(const std::string& url) const {
    net::HttpRequest req;
    req.url = url;
    req.timeout = timeout_;
    req.connect_timeout = timeout_;
    req.headers.push_back("Accept: application/json");
    std::string token = c_.token;
    if (token.empty() && !c_.token_file.empty()) token = trim(slurp(c_.token_file));  // rotated tokens: read every time
    if (!token.empty()) req.headers.push_back("Authorization: Bearer " + token);
    else if (!c_.username.empty()) req.headers.push_back("Authorization: Basic " + net::base64(c_.username + ":" + c_.password));
    return req;
}

void KubeClient::fail(long status, const std::string& url, const std::string& body) const {
    json j = json::parse(body, nullptr, false);
    std::string said = j.is_object() ? j.value("message", "") : "";
    if (said.empty()) said = net::excerpt(body);
    const std::string what = c_.server + " answered " + std::to_string(status) + " to GET " + url.substr(c_.server.size()) +
                             (said.empty() ? "" : ": " + said);
    if (status == 401 || status == 403) throw sdk::Error(HERD_ERR_PERMISSION, what);
    if (status == 410) throw sdk::Error(HERD_ERR_COMPACTED, what);
    if (status == 404 || status == 400 || status == 422) throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, what);
    throw sdk::Error(HERD_ERR_UNAVAILABLE, what);
}

KubeClient::ListResult KubeClient::list(const std::string& path, const std::string& query, const std::atomic<bool>* cancel) {
    ListResult out;
    std::string cont;
    do {
        std::string url = c_.server + path + "?limit=500" + (query.empty() ? "" : "&" + query);
        if (!cont.empty()) url += "&continue=" + query_escape(cont);
        net::HttpRequest req = request(url);
        req.cancel = cancel;
        net::HttpResponse r = http_.perform(req);
        if (r.status != 200) fail(r.status, url, r.body);
        json j = json::parse(r.body, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("items"))
            throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, c_.server + ": the list " + path + " is not a Kubernetes list (malformed JSON)");
        for (auto& item : j["items"]) out.items.push_back(std::move(item));
        const json& meta = j.value("metadata", json::object());
        out.resource_version = meta.value("resourceVersion", "");
        cont = meta.value("continue", "");
    } while (!cont.empty());
    return out;
}

void KubeClient::watch(const std::string& path, const std::string& query, const std::function<void(const json&)>& on_event,
                       const std::atomic<bool>& stop, std::chrono::seconds idle) {
    const std::string url = c_.server + path + "?watch=1&" + query;
    net::HttpRequest req = request(url);
    req.timeout = std::chrono::milliseconds(0);  // the server ends it (timeoutSeconds); a silent one is cut below
    req.cancel = &stop;
    net::LineSplitter lines;
    std::string error_body;
    net::HttpResponse r = http_.stream(req, [&](std::string_view data) {
        lines.feed(data, [&](std::string_view line) {
            if (line.empty()) return;
            json ev = json::parse(line, nullptr, false);
            if (ev.is_discarded())
                throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, c_.server + ": malformed JSON in the watch of " + path + ": " +
                                                               std::string(line.substr(0, 120)));
            if (ev.is_object() && ev.value("kind", "") == "Status") {  // an error answer (non-200), not an event
                error_body = ev.dump();
                return;
            }
            if (!ev.is_object() || !ev.contains("type") || !ev.contains("object"))
                throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, c_.server + ": malformed watch event on " + path);
            on_event(ev);
        });
    }, idle);
    if (r.status != 200) fail(r.status, url, error_body);
}

}  // namespace herd::sd_k8s

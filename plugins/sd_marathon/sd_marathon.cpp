// sd_marathon — discovery from Marathon (and DC/OS), target groups as Prometheus' marathon_sd.
//
//   [[discovery]]
//   name = "marathon"
//   plugin = "sd_marathon"
//   servers = ["http://m1:8080", "http://m2:8080"]   # one picked at random; the others on failure
//   apps = ["/grp/prometheus"]                       # only these app ids (default: every app)
//   refresh_interval = "30s"
//   timeout = "10s"
//   running_only = false      # only TASK_RUNNING tasks (Prometheus keeps every task)
//   healthy_only = false      # only tasks whose health checks are all alive
//   # authentication, at most one of:
//   auth_token = "..."  |  auth_token_file = "..."           # Authorization: token=<token>
//   basic_auth = { username = "...", password = "..." }
//   dcos_credentials_file = "..."   # {"uid", "login_endpoint", "private_key" | "password"}
//   ca_file, cert_file, key_file, insecure_skip_verify      # TLS
#include "dcos_auth.hpp"
#include "curl_http.hpp"
#include "marathon_targets.hpp"

#include <herd/sdk/discovery_support.hpp>
#include <herd/sdk/json_config.hpp>
#include <herd/sdk/kv_support.hpp>
#include <herd/sdk/plugin.hpp>

#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

namespace herd::sd_marathon {
namespace {

using nlohmann::json;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

struct Options {
    std::vector<std::string> servers;
    std::chrono::milliseconds refresh{30000}, timeout{10000};
    TaskFilter filter;
    std::set<std::string> apps;  // empty: every app
    std::string token, token_file, username, password;
    std::optional<DcosCredentials> dcos;
    net::TlsFiles tls;
};

Options parse(const sdk::CreateContext& ctx) {
    sdk::JsonConfig cfg(ctx.config_json);
    Options o;
    auto file = [&](const std::string& f) { return ctx.path(f); };
    auto servers = cfg.strings("servers");
    if (!servers || servers->empty()) throw sdk::ConfigError("servers", "name at least one Marathon server, e.g. \"http://marathon:8080\"");
    for (size_t i = 0; i < servers->size(); ++i) {
        std::string s = (*servers)[i];
        if (s.rfind("http://", 0) != 0 && s.rfind("https://", 0) != 0)
            throw sdk::ConfigError("servers[" + std::to_string(i) + "]", "\"" + s + "\" must start with http:// or https://");
        while (s.back() == '/') s.pop_back();
        o.servers.push_back(s);
    }
    for (const auto& a : cfg.strings("apps").value_or(std::vector<std::string>{})) o.apps.insert(a);
    o.refresh = cfg.duration("refresh_interval").value_or(o.refresh);
    o.timeout = cfg.duration("timeout").value_or(o.timeout);
    o.filter.running_only = cfg.boolean("running_only").value_or(false);
    o.filter.healthy_only = cfg.boolean("healthy_only").value_or(false);
    o.token = cfg.string("auth_token", "");
    o.token_file = file(cfg.string("auth_token_file", ""));
    int methods = !o.token.empty() + !o.token_file.empty();
    if (auto b = cfg.table("basic_auth")) {
        if (!b->contains("username") || !(*b)["username"].is_string() || !b->contains("password") || !(*b)["password"].is_string())
            throw sdk::ConfigError("basic_auth", "must be a table with username and password (strings)");
        o.username = (*b)["username"].get<std::string>();
        o.password = (*b)["password"].get<std::string>();
        ++methods;
    }
    const std::string creds = file(cfg.string("dcos_credentials_file", ""));
    if (!creds.empty()) {
        std::string text;
        try {
            text = slurp(creds);
        } catch (const sdk::Error& e) {
            throw sdk::ConfigError("dcos_credentials_file", e.what());
        }
        o.dcos = parse_dcos_credentials(text, creds);
        ++methods;
    }
    if (methods > 1) throw sdk::ConfigError("auth_token", "use one of auth_token, auth_token_file, basic_auth and dcos_credentials_file");
    o.tls.ca_file = file(cfg.string("ca_file", ""));
    o.tls.cert_file = file(cfg.string("cert_file", ""));
    o.tls.key_file = file(cfg.string("key_file", ""));
    o.tls.insecure_skip_verify = cfg.boolean("insecure_skip_verify").value_or(false);
    cfg.finish();
    return o;
}

class SdMarathon final : public sdk::Discovery {
public:
    explicit SdMarathon(const sdk::CreateContext& ctx) : host_(ctx.host), opts_(parse(ctx)), http_(opts_.tls) {
        std::random_device rd;
        current_ = std::uniform_int_distribution<size_t>(0, opts_.servers.size() - 1)(rd);
    }
    ~SdMarathon() override { stop(); }

    void start(sdk::DiscoverySink sink) override {
        sink_ = sink;
        threads_.start([this](sdk::WatchSet::Stop& stop) {
            do refresh(stop);
            while (stop.sleep(opts_.refresh));
        });
    }
    void stop() noexcept override { threads_.stop_all(); }

private:
    // One look at Marathon: every app with its tasks, from the current server or the next ones.
    void refresh(sdk::WatchSet::Stop& stop) {
        std::string errors;
        for (size_t tried = 0; tried < opts_.servers.size() && !stop.requested(); ++tried) {
            const std::string server = opts_.servers[current_];
            try {
                json apps = fetch(server, stop);
                publish(apps);
                return;
            } catch (const sdk::Error& e) {
                if (stop.requested()) return;
                errors += (errors.empty() ? "" : "; ") + std::string(e.what());
                current_ = (current_ + 1) % opts_.servers.size();
            }
        }
        if (!stop.requested()) {
            host_.warn(errors);
            sink_.error(errors);
        }
    }

    json fetch(const std::string& server, sdk::WatchSet::Stop& stop) {
        const std::string url = server + "/v2/apps/?embed=apps.tasks";
        for (int attempt = 0; attempt < 2; ++attempt) {
            net::HttpRequest req;
            req.url = url;
            req.timeout = opts_.timeout;
            req.connect_timeout = opts_.timeout;
            req.cancel = &stop.flag();
            req.headers.push_back("Accept: application/json");
            if (auto auth = authorization(server, attempt > 0)) req.headers.push_back("Authorization: " + *auth);
            net::HttpResponse r = http_.perform(req);
            if (r.status == 401 && opts_.dcos && attempt == 0) continue;  // the login token expired: log in again, once
            if (r.status < 200 || r.status > 299)
                throw sdk::Error(r.status == 401 || r.status == 403 ? HERD_ERR_PERMISSION : HERD_ERR_UNAVAILABLE,
                                 "GET " + url + " answered " + std::to_string(r.status) + ": " + net::excerpt(r.body));
            json j = json::parse(r.body, nullptr, false);
            if (j.is_discarded() || !j.is_object() || !j.contains("apps") || !j["apps"].is_array())
                throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "GET " + url + ": the answer is not Marathon's {\"apps\": [...]} (malformed JSON)");
            return j["apps"];
        }
        throw sdk::Error(HERD_ERR_PERMISSION, "GET " + url + ": still 401 after logging in again as \"" + opts_.dcos->uid + "\"");
    }

    std::optional<std::string> authorization(const std::string& server, bool relogin) {
        if (!opts_.token.empty()) return "token=" + opts_.token;
        if (!opts_.token_file.empty()) return "token=" + slurp(opts_.token_file);
        if (!opts_.username.empty()) return "Basic " + net::base64(opts_.username + ":" + opts_.password);
        if (!opts_.dcos) return std::nullopt;
        if (dcos_token_.empty() || relogin) dcos_token_ = login(server);
        return "token=" + dcos_token_;
    }

    std::string login(const std::string& server) {
        const auto& c = *opts_.dcos;
        json body{{"uid", c.uid}};
        if (!c.private_key_pem.empty()) body["token"] = rs256_jwt(c.uid, c.private_key_pem);
        else body["password"] = c.password;
        net::HttpRequest req;
        req.method = "POST";
        req.url = c.login_endpoint;
        req.body = body.dump();
        req.headers.push_back("Content-Type: application/json");
        req.timeout = opts_.timeout;
        net::HttpResponse r = http_.perform(req);
        json j = json::parse(r.body, nullptr, false);
        if (r.status != 200 || !j.is_object() || !j.contains("token"))
            throw sdk::Error(HERD_ERR_PERMISSION, "DC/OS login as \"" + c.uid + "\" at " + c.login_endpoint + " (for " + server +
                                                      ") answered " + std::to_string(r.status) + ": " + net::excerpt(r.body));
        host_.info("logged in to DC/OS as \"" + c.uid + "\"");
        return j["token"].get<std::string>();
    }

    // Sends the groups that changed; an app that vanished gets an empty group for its source.
    void publish(const json& apps) {
        std::vector<json> groups;
        for (const auto& app : apps)
            if (opts_.apps.empty() || opts_.apps.count(app.value("id", ""))) groups.push_back(app_group(app, opts_.filter));
        publisher_.publish_all(sink_, std::move(groups));
    }

    sdk::Host host_;
    Options opts_;
    net::HttpClient http_;
    size_t current_ = 0;
    std::string dcos_token_;
    sdk::DiscoverySink sink_;
    sdk::GroupPublisher publisher_;
    sdk::WatchSet threads_;  // last: stops before the rest goes
};

}  // namespace
}  // namespace herd::sd_marathon

HERD_PLUGIN("sd_marathon", "0.1.0", "Discovery from Marathon / DC/OS (Prometheus marathon_sd labels)",
            herd::sdk::factory<herd::sd_marathon::SdMarathon>("sd_marathon", "apps and tasks from Marathon's REST API"))

// The dispatch pipeline's HTTP routes on the admin listener:
//
//   /api/v1/clusterchecks/...                      Datadog's node API, byte-compatible (datadog_paths)
//   /api/v1/dispatch/<pipeline>/clusterchecks/...  the same, by pipeline (herd nodes use these)
//   /api/v1/dispatch/<pipeline>/state              the leader's view as JSON
//   /api/v1/dispatch/<pipeline>/checks[/<id>]      the checks API (any candidate; the store)
//
// Node calls are the leader's: a follower forwards them once, marked with
// X-DCA-Follower-Forwarded, and answers 508 to a call that is marked already.
#include "dispatch/dispatch_pipeline.hpp"

#include "http/client.hpp"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

namespace herd::dispatch {

namespace {

const std::string kForwardedHeader = "x-dca-follower-forwarded";

admin::Response text(int status, const std::string& body) { return {status, "text/plain; charset=utf-8", body + "\n", {}}; }

admin::Response json_answer(int status, const std::string& body) { return {status, "application/json", body, {}}; }

admin::Response api_error(int status, const std::string& why) {
    return {status, "application/json", nlohmann::json{{"status", "error"}, {"error", why}}.dump() + "\n", {}};
}

// OpenSSL's constant-time comparison: how long it takes says nothing about the token.
bool constant_time_equal(const std::string& a, const std::string& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::pair<std::string, std::string>> parse_leader(const std::string& value) {
    try {
        auto j = nlohmann::json::parse(value);
        return std::pair{j.at("id").get<std::string>(), j.at("advertise").get<std::string>()};
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace

std::optional<admin::Response> DispatchPipeline::unauthorized(const admin::Request& req, bool datadog) const {
    if (cfg_.token.empty()) return std::nullopt;
    const std::string auth = req.header("authorization");
    const std::string want = "Bearer " + cfg_.token;
    if (constant_time_equal(auth, want)) return std::nullopt;
    metrics_.counter("herd_dispatch_unauthorized_total", "API calls refused for a missing or wrong token.", {"pipeline"})
        .with({pc_.name})
        .add(1);
    const std::string why = auth.empty() ? "no token: send Authorization: Bearer <token>" : "invalid token";
    auto r = datadog ? text(401, why) : api_error(401, why);
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
}

std::optional<admin::Response> DispatchPipeline::handle(const admin::Request& req) {
    const std::string mine = "/api/v1/dispatch/" + pc_.name + "/";
    if (req.path.rfind(mine, 0) == 0) {
        const std::string rest = req.path.substr(mine.size());
        if (rest.rfind("clusterchecks", 0) == 0) return handle_node_api(req, rest.substr(13));
        if (rest == "state") return handle_node_api(req, "/state");
        if (rest == "checks" || rest.rfind("checks/", 0) == 0) return handle_checks_api(req, rest.substr(6));
        return api_error(404, "not found: " + req.path + " (clusterchecks/..., state, checks, checks/<id>)");
    }
    if (cfg_.datadog_paths && req.path.rfind("/api/v1/clusterchecks", 0) == 0) return handle_node_api(req, req.path.substr(21));
    return std::nullopt;
}

std::optional<admin::Response> DispatchPipeline::handle_node_api(const admin::Request& req, const std::string& rest) {
    auto& calls = metrics_.counter("herd_dispatch_api_requests_total", "Node API calls by answer.", {"pipeline", "code"});
    auto count = [&](admin::Response r) {
        calls.with({pc_.name, std::to_string(r.status)}).add(1);
        return r;
    };
    if (!cfg_.leader) return count(text(404, "cluster checks are not served here: this herd is only a dispatch node"));
    if (auto u = unauthorized(req, true)) return count(*u);
    if (leading()) return count(serve_as_leader(req, rest));
    // Not the leader.
    if (req.has_header(kForwardedHeader)) {
        metrics_.counter("herd_dispatch_forwarded_total", "Node calls a follower handled, by result.", {"pipeline", "result"})
            .with({pc_.name, "loop"})
            .add(1);
        return count(text(508, "loop detected: this call was forwarded by a follower already and this herd (" + node_id_ +
                                   ") is not the leader either; it is not forwarded again"));
    }
    if (election_ && election_->leading() && !ready_)
        return count(rest.rfind("/status", 0) == 0 ? json_answer(200, R"({"isuptodate":true})")  // keep running what you have
                                                   : text(503, "Startup in progress: the new leader is reading the store"));
    return count(forward(req));
}

admin::Response DispatchPipeline::forward(const admin::Request& req) {
    auto& fwd = metrics_.counter("herd_dispatch_forwarded_total", "Node calls a follower handled, by result.", {"pipeline", "result"});
    int64_t term = 0;
    auto value = election_ ? election_->known_leader(&term) : std::nullopt;
    auto leader = value ? parse_leader(*value) : std::nullopt;
    if (!leader || leader->first == node_id_) {
        fwd.with({pc_.name, "no_leader"}).add(1);
        return text(503, !value    ? "no leader: the election key " + store_->leader_key() + " is empty (a candidate is campaigning)"
                         : !leader ? "no leader: the election key " + store_->leader_key() + " holds no herd's address (" + *value + ")"
                                   : "no leader: this herd's leadership has ended and no successor is known yet");
    }
    http_client::Request out;
    out.method = req.method;
    out.host_port = leader->second;
    out.target = req.target;
    out.body = req.body;
    out.content_type = req.header("content-type");
    // Datadog's node client waits 3 s for headers; a node must still have time for another server.
    out.timeout = std::clamp(cfg_.node_expiration / 6, std::chrono::milliseconds(100), std::chrono::milliseconds(3000));
    for (const char* h : {"authorization", "x-real-ip"})
        if (req.has_header(h)) out.headers.emplace_back(h, req.header(h));
    out.headers.emplace_back("X-DCA-Follower-Forwarded", "true");
    auto res = http_client::call(out);
    if (res.status == 0) {
        fwd.with({pc_.name, "leader_unreachable"}).add(1);
        return text(503, "the leader " + leader->first + " (" + leader->second + ") did not answer: " + res.error);
    }
    fwd.with({pc_.name, "forwarded"}).add(1);
    admin::Response r{res.status, res.content_type.empty() ? "text/plain; charset=utf-8" : res.content_type, res.body, {}};
    r.headers.emplace_back("X-DCA-Forwarded", "true");
    return r;
}

admin::Response DispatchPipeline::serve_as_leader(const admin::Request& req, const std::string& rest) {
    const auto now = Clock::now();
    if (rest.rfind("/status/", 0) == 0) {
        if (req.method != "POST") return text(405, "POST the node's status here");
        const std::string node = rest.substr(8);
        if (auto why = check_id_error(node); !why.empty()) return text(400, "node name: " + why);
        int64_t last_change = 0;
        std::string node_type;
        std::map<std::string, double> weights;
        bool has_weights = false;
        try {
            auto j = nlohmann::json::parse(req.body);
            last_change = j.at("last_change").get<int64_t>();
            if (j.contains("node_type") && j["node_type"].is_number_unsigned())
                node_type = j["node_type"].get<int>() == 1 ? "clc-runner" : "node-agent";
            if (j.contains("herd_load")) {
                for (const auto& [id, w] : j["herd_load"].items()) weights[id] = w.get<double>();
                has_weights = true;
            }
        } catch (const std::exception& e) {
            return text(500, std::string("cannot read the status: ") + e.what());  // Datadog: 500 on bad JSON
        }
        bool up, work;
        {
            std::lock_guard lk(mu_);
            up = dispatcher_.status(node, last_change, has_weights ? &weights : nullptr, now, req.header("x-real-ip"), node_type);
            work = dispatcher_.has_work();
        }
        if (work) trigger();  // a confirmed move or a join: act on it now, not at the next tick
        return json_answer(200, up ? R"({"isuptodate":true})" : R"({"isuptodate":false})");
    }
    if (rest.rfind("/configs/", 0) == 0) {
        if (req.method != "GET" && req.method != "HEAD") return text(405, "GET the node's configs here");
        const std::string node = rest.substr(9);
        std::lock_guard lk(mu_);
        if (!dispatcher_.known(node)) return text(500, "node " + node + " is unknown");
        auto configs = nlohmann::ordered_json::array();
        for (const auto* c : dispatcher_.configs_of(node)) configs.push_back(datadog_config(*c, ""));
        nlohmann::ordered_json j{{"last_change", dispatcher_.version_of(node)}, {"configs", configs}};
        return json_answer(200, go_json(j));
    }
    if (rest == "/rebalance") {
        if (req.method != "POST") return text(405, "POST to rebalance");
        std::lock_guard lk(mu_);
        auto r = dispatcher_.rebalance(0.0);  // asked for: apply any plan that narrows the spread
        last_rebalance_ = {std::chrono::system_clock::now(), "asked through the API", r.applied ? "moved " + std::to_string(r.moves.size()) : r.why,
                           r.applied ? r.moves : std::vector<Move>{}, r.spread_before, r.spread_after};
        auto out = nlohmann::ordered_json::array();
        for (const auto& m : r.moves) {
            const auto& c = dispatcher_.checks().at(m.check);
            out.push_back(nlohmann::ordered_json{{"digest", c.digest()},
                                                 {"check_name", c.check_name},
                                                 {"check_weight", static_cast<int64_t>(std::llround(m.weight))},
                                                 {"source_node_name", m.from},
                                                 {"source_diff", static_cast<int64_t>(std::llround(m.from_load - m.weight))},
                                                 {"dest_node_name", m.to},
                                                 {"dest_diff", static_cast<int64_t>(std::llround(m.to_load + m.weight))}});
        }
        wake_ = true;
        cv_.notify_all();
        return json_answer(200, out.empty() ? "null" : go_json(out));  // Go marshals an empty slice it never filled as null
    }
    if (rest.empty() || rest == "/") {
        if (req.method != "GET" && req.method != "HEAD") return text(405, "GET the state here");
        std::lock_guard lk(mu_);
        auto nodes = nlohmann::ordered_json::array();
        for (const auto& [name, n] : dispatcher_.nodes()) {
            auto configs = nlohmann::ordered_json::array();
            for (const auto* c : dispatcher_.configs_of(name)) configs.push_back(datadog_config(*c, ""));
            nodes.push_back(nlohmann::ordered_json{{"name", name}, {"configs", configs}});
        }
        auto dangling = nlohmann::ordered_json::array();
        for (const auto& id : dispatcher_.dangling()) dangling.push_back(datadog_config(dispatcher_.checks().at(id), ""));
        nlohmann::ordered_json j{{"not_running", ""}, {"warmup", false}, {"nodes", nodes}, {"dangling", dangling}};
        return json_answer(200, go_json(j));
    }
    if (rest == "/state") return json_answer(200, state_json());
    return text(404, "not found: " + req.path);
}

std::string DispatchPipeline::state_json() const {
    std::lock_guard lk(mu_);
    const auto now = Clock::now();
    nlohmann::ordered_json j{{"leader", node_id_}, {"term", term_}, {"since", std::chrono::duration_cast<std::chrono::milliseconds>(since_.time_since_epoch()).count()}};
    auto nodes = nlohmann::ordered_json::array();
    const auto loads = dispatcher_.loads();
    for (const auto& [name, n] : dispatcher_.nodes()) {
        nlohmann::ordered_json checks = nlohmann::ordered_json::array();
        for (const auto* c : dispatcher_.configs_of(name)) checks.push_back(c->id);
        nodes.push_back({{"name", name},
                         {"heartbeat_age_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now - n.heartbeat).count()},
                         {"reported", n.reported},
                         {"up_to_date", n.reported_version == dispatcher_.version_of(name)},
                         {"version", dispatcher_.version_of(name)},
                         {"load", loads.count(name) ? loads.at(name) : 0.0},
                         {"assigned", dispatcher_.record_of(name).size()},
                         {"runs", checks}});
    }
    j["nodes"] = nodes;
    // A std::map-backed object: an ordered_json object finds keys linearly (10 000 checks: 10^8).
    auto assign = nlohmann::json::object();
    for (const auto& [id, a] : dispatcher_.assignments()) assign[id] = a.from.empty() ? a.node : a.node + " (from " + a.from + ")";
    j["assignments"] = std::move(assign);
    j["dangling"] = dispatcher_.dangling();
    j["checks"] = dispatcher_.checks().size();
    j["template_errors"] = template_errors_;
    j["store_error"] = store_error_;
    nlohmann::ordered_json lr{{"why", last_rebalance_.why}, {"outcome", last_rebalance_.outcome}, {"moves", last_rebalance_.moves.size()}};
    j["last_rebalance"] = lr;
    return j.dump() + "\n";
}

std::optional<admin::Response> DispatchPipeline::handle_checks_api(const admin::Request& req, const std::string& rest) {
    if (!cfg_.leader) return api_error(404, "the checks API is served by leader candidates (role \"leader\"), not by a node");
    if (auto u = unauthorized(req, false)) return *u;
    try {
        if (rest.empty() || rest == "/") {
            if (req.method != "GET" && req.method != "HEAD") return api_error(405, "GET lists the checks; PUT one at checks/<id>");
            auto out = nlohmann::ordered_json::array();
            for (const auto& [id, c] : store_->checks()) out.push_back(to_api_json(c));
            return json_answer(200, out.dump() + "\n");
        }
        const std::string id = rest.substr(1);
        if (auto why = check_id_error(id); !why.empty()) return api_error(400, why);
        if (req.method == "GET" || req.method == "HEAD") {
            auto c = store_->check(id);
            if (!c) return api_error(404, "no check \"" + id + "\"");
            return json_answer(200, to_api_json(*c).dump() + "\n");
        }
        if (req.method == "PUT" || req.method == "POST") {
            if (req.body.size() > store_->max_check_size())
                return api_error(413, "the check is " + std::to_string(req.body.size()) + " bytes, over max_check_size (" +
                                          std::to_string(store_->max_check_size()) + ")");
            std::string why;
            auto c = parse_check(req.body, id, &why);
            if (!c) return api_error(400, why);
            const bool existed = store_->check(id).has_value();
            store_->put_check(*c);
            return json_answer(existed ? 200 : 201,
                               nlohmann::ordered_json{{"status", "success"}, {"id", id}, {"digest", c->digest()}}.dump() + "\n");
        }
        if (req.method == "DELETE") {
            if (!store_->delete_check(id)) return api_error(404, "no check \"" + id + "\"");
            return json_answer(200, nlohmann::ordered_json{{"status", "success"}, {"id", id}}.dump() + "\n");
        }
        return api_error(405, "GET, PUT or DELETE a check");
    } catch (const kv::KvError& e) {
        return api_error(503, std::string("the store: ") + e.what());
    }
}

}  // namespace herd::dispatch

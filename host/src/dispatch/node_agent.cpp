#include "dispatch/node_agent.hpp"

#include "http/client.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

namespace herd::dispatch {

std::vector<sink::Item> items_for(const std::vector<Check>& checks, const std::string& format,
                                  std::map<std::string, std::string>* check_of_item) {
    std::vector<sink::Item> out;
    for (const auto& c : checks) {
        sink::Item it;
        if (format == "scrape_config") {
            // Each instance is one Prometheus scrape_config; a missing job_name is the check's id.
            auto jobs = nlohmann::json::array();
            for (size_t i = 0; i < c.instances.size(); ++i) {
                auto job = yaml_text_to_json(c.instances[i]);
                if (!job.contains("job_name")) job["job_name"] = c.instances.size() == 1 ? c.id : c.id + "-" + std::to_string(i);
                jobs.push_back(job);
            }
            it = {c.id, HERD_SINK_SCRAPE_CONFIG, nlohmann::json{{"scrape_configs", jobs}}.dump() + "\n"};
        } else {
            it = {c.check_name + ".d/" + c.id, HERD_SINK_CHECK_CONFIG, conf_d_yaml(c)};
        }
        if (check_of_item) (*check_of_item)[it.name] = c.id;
        out.push_back(std::move(it));
    }
    return out;
}

NodeAgent::NodeAgent(NodeOptions o, sink::SinkClient& sink, metrics::Registry& metrics)
    : o_(std::move(o)), sink_(sink), metrics_(metrics) {}

NodeAgent::~NodeAgent() { stop(); }

void NodeAgent::start() { thread_ = std::thread([this] { run(); }); }

void NodeAgent::stop() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

NodeState NodeAgent::state() const {
    std::lock_guard lk(mu_);
    return state_;
}

void NodeAgent::run() {
    while (true) {
        poll();
        std::unique_lock lk(mu_);
        if (cv_.wait_for(lk, o_.poll_interval, [this] { return stopping_; })) return;
    }
}

std::map<std::string, double> NodeAgent::weights() {
    std::map<std::string, double> out;
    try {
        auto load = sink_.load();
        if (!load) return out;
        auto j = nlohmann::json::parse(*load);
        for (const auto& [item, v] : j.items()) {
            auto c = check_of_item_.find(item);
            if (c == check_of_item_.end()) continue;
            // A number, or {"weight": n} / {"samples": n}: what the sink knows of the item's cost.
            double w = -1;
            if (v.is_number()) w = v.get<double>();
            else if (v.is_object() && v.contains("weight") && v["weight"].is_number()) w = v["weight"].get<double>();
            else if (v.is_object() && v.contains("samples") && v["samples"].is_number()) w = v["samples"].get<double>();
            if (w >= 0) out[c->second] = w;
        }
    } catch (const std::exception& e) {
        spdlog::debug("dispatch {}: no load from the sink: {}", o_.pipeline, e.what());
    }
    return out;
}

bool NodeAgent::post_status(const std::string& server, std::string* error, bool* up_to_date) {
    int64_t version;
    {
        std::lock_guard lk(mu_);
        version = state_.version;
    }
    nlohmann::ordered_json body{{"last_change", version}, {"node_type", 2}};
    auto w = weights();
    if (!w.empty()) body["herd_load"] = w;
    http_client::Request req;
    req.method = "POST";
    req.host_port = server;
    req.target = o_.path + "status/" + o_.node_id;
    req.timeout = o_.timeout;
    req.body = body.dump();
    req.content_type = "application/json";
    if (!o_.token.empty()) req.headers.emplace_back("Authorization", "Bearer " + o_.token);
    if (!o_.advertise.empty()) req.headers.emplace_back("X-Real-Ip", o_.advertise.substr(0, o_.advertise.rfind(':')));
    auto res = http_client::call(req);
    if (res.status != 200) {
        *error = res.status ? server + " answered " + std::to_string(res.status) + " to the status: " + res.body : res.error;
        while (!error->empty() && error->back() == '\n') error->pop_back();
        return false;
    }
    try {
        *up_to_date = nlohmann::json::parse(res.body).at("isuptodate").get<bool>();
    } catch (const std::exception& e) {
        *error = server + ": the status answer is not {\"isuptodate\": bool}: " + e.what();
        return false;
    }
    return true;
}

void NodeAgent::poll() {
    auto& polls = metrics_.counter("herd_dispatch_node_polls_total", "A node's polls of its servers by result.",
                                   {"pipeline", "result"});
    if (o_.servers.empty()) return;
    const std::string server = o_.servers[server_index_ % o_.servers.size()];
    std::string error;
    auto fail = [&](const std::string& why) {
        // Keep what runs; the next poll tries the next server.
        polls.with({o_.pipeline, "error"}).add(1);
        ++server_index_;
        std::lock_guard lk(mu_);
        if (state_.error != why) spdlog::warn("dispatch {}: node {}: {} (keeping its {} checks)", o_.pipeline, o_.node_id, why, state_.checks);
        state_.error = why;
        ++state_.polls;
    };
    bool up_to_date = false;
    if (!post_status(server, &error, &up_to_date)) return fail(error);
    {
        std::lock_guard lk(mu_);
        state_.server = server;
        ++state_.polls;
    }
    if (up_to_date) {
        polls.with({o_.pipeline, "up_to_date"}).add(1);
        std::lock_guard lk(mu_);
        state_.error.clear();
        state_.last_ok = std::chrono::system_clock::now();
        return;
    }
    http_client::Request req;
    req.host_port = server;
    req.target = o_.path + "configs/" + o_.node_id;
    req.timeout = o_.timeout;
    if (!o_.token.empty()) req.headers.emplace_back("Authorization", "Bearer " + o_.token);
    auto res = http_client::call(req);
    if (res.status != 200)
        return fail(res.status ? server + " answered " + std::to_string(res.status) + " to configs: " + res.body : res.error);
    int64_t version = 0;
    std::vector<Check> checks;
    try {
        auto j = nlohmann::json::parse(res.body);
        version = j.at("last_change").get<int64_t>();
        if (!j.at("configs").is_null())
            for (const auto& c : j.at("configs")) {
                std::string why;
                auto check = from_datadog_config(c, &why);
                if (!check) throw std::runtime_error(why);
                checks.push_back(std::move(*check));
            }
    } catch (const std::exception& e) {
        return fail(server + ": the configs answer cannot be read: " + e.what());
    }
    std::map<std::string, std::string> check_of_item;
    auto items = items_for(checks, o_.sink_format, &check_of_item);
    auto result = sink_.apply(items);
    std::vector<std::pair<std::string, std::string>> refused;
    if (!result.ok() && !result.refused.empty()) {
        // The agent refused some checks: run the others, say which and why.
        for (const auto& [item, why] : result.refused) refused.emplace_back(check_of_item.count(item) ? check_of_item[item] : item, why);
        std::vector<sink::Item> rest;
        for (auto& it : items) {
            bool bad = false;
            for (const auto& [item, why] : result.refused) bad |= item == it.name;
            if (!bad) rest.push_back(std::move(it));
        }
        result = sink_.apply(rest);
    }
    if (!result.ok()) return fail("the sink did not apply " + std::to_string(items.size()) + " checks: " + result.message);
    polls.with({o_.pipeline, "applied"}).add(1);
    check_of_item_ = std::move(check_of_item);
    {
        std::lock_guard lk(mu_);
        state_.version = version;
        state_.checks = checks.size();
        state_.check_ids.clear();
        for (const auto& c : checks) state_.check_ids.push_back(c.id);
        state_.refused = refused;
        state_.error.clear();
        state_.last_ok = state_.last_apply = std::chrono::system_clock::now();
        ++state_.fetches;
    }
    metrics_.gauge("herd_dispatch_node_checks", "Checks this node runs.", {"pipeline"}).with({o_.pipeline}).set(static_cast<double>(checks.size()));
    spdlog::info("dispatch {}: node {} runs {} checks (version {})", o_.pipeline, o_.node_id, checks.size(), version);
    // Report at once: a check moving here is confirmed, and its old node may drop it.
    if (!post_status(server, &error, &up_to_date)) fail(error);
}

}  // namespace herd::dispatch

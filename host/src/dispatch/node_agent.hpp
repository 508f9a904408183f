// A dispatch pipeline's node role: what a Datadog node agent does against its cluster agent, for
// an agent herd feeds through a sink. Every poll_interval it posts its status (the version it
// runs and each check's load, as its sink reports it) to one of `servers` — any member: a
// follower forwards — and fetches its configs only when told it is not up to date. It applies
// them through the sink as exactly this set, then reports the new version at once, so a check
// moving to it is confirmed (and leaves its old node) one request later, not one poll later.
//
// It never empties its agent because of an error: a server that is down, a leader election in
// progress, an answer it cannot read — it keeps running what it has and tries the next server.
#pragma once

#include "dispatch/check.hpp"
#include "metrics/registry.hpp"
#include "sink/sink_client.hpp"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace herd::dispatch {

struct NodeOptions {
    std::string pipeline, node_id, advertise;
    std::vector<std::string> servers;
    std::string path;  // "/api/v1/dispatch/<pipeline>/clusterchecks/"
    std::string token;
    std::string sink_format = "conf.d";
    std::chrono::milliseconds poll_interval{10000};
    // Per request. Well under node_expiration: a server that accepts but never answers (a paused
    // herd) must not hold a node past its expiry while other servers could take its status.
    std::chrono::milliseconds timeout{7500};
};

struct NodeState {
    std::string server;           // the one it polls now
    int64_t version = 0;          // what it applied
    size_t checks = 0;
    std::vector<std::string> check_ids;
    std::chrono::system_clock::time_point last_ok{}, last_apply{};
    std::string error;            // the last poll's, "" when it went well
    std::vector<std::pair<std::string, std::string>> refused;  // (check, why)
    uint64_t polls = 0, fetches = 0;
};

// The sink items for checks: conf.d files (<check_name>.d/<id>.yaml) or Prometheus scrape jobs.
std::vector<sink::Item> items_for(const std::vector<Check>& checks, const std::string& format,
                                  std::map<std::string, std::string>* check_of_item = nullptr);

class NodeAgent {
public:
    NodeAgent(NodeOptions o, sink::SinkClient& sink, metrics::Registry& metrics);
    ~NodeAgent();
    void start();
    void stop();
    NodeState state() const;

private:
    void run();
    void poll();
    bool post_status(const std::string& server, std::string* error, bool* up_to_date);
    std::map<std::string, double> weights();

    NodeOptions o_;
    sink::SinkClient& sink_;
    metrics::Registry& metrics_;
    size_t server_index_ = 0;
    std::map<std::string, std::string> check_of_item_;  // item name → check id
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    NodeState state_;
    std::thread thread_;
};

}  // namespace herd::dispatch

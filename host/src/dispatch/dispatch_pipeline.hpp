// A [[dispatch]] pipeline: checks that must run once per cluster, handed by an elected leader to
// node agents — Datadog's cluster checks, drop-in (the node API is byte-compatible), without
// their failure modes.
//
//  - Leadership: the host's election on the pipeline's KV store. The leader's term fences its
//    writes (dispatch_store.hpp); leading() is bounded by the lease, so a paused leader is a
//    follower the moment it resumes.
//  - Assignments live in the store: a new leader reads them and continues — no warmup, no
//    reshuffle; nodes named there count as alive until they miss node_expiration with it.
//  - Followers forward node calls to the leader once, marked; a marked call is never forwarded
//    again (508), so two herds can never bounce a request between them.
//  - The leader thread ticks every node_expiration/4: expiry, placement of dangling checks, a
//    prompt rebalance when a node joined, the periodic one, and the store writes.
//  - role "node" is a NodeAgent (node_agent.hpp) feeding the pipeline's sink.
#pragma once

#include "dispatch/check_template.hpp"
#include "dispatch/dispatch_store.hpp"
#include "dispatch/dispatcher.hpp"
#include "dispatch/node_agent.hpp"
#include "kv/election.hpp"
#include "kv/kv_client.hpp"
#include "pipeline/pipeline.hpp"
#include "sink/sink_client.hpp"

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace herd::dispatch {

class DispatchPipeline final : public pipeline::Pipeline {
public:
    static std::unique_ptr<DispatchPipeline> create(const config::PipelineConfig& pc, pipeline::Context& ctx,
                                                    config::Diagnostic* error);
    ~DispatchPipeline() override;

    std::string start(pipeline::Pipeline* replacing) override;
    void stop() override;
    pipeline::Summary summary() const override;
    std::string status_html() const override;
    std::optional<admin::Response> handle(const admin::Request& req) override;

private:
    DispatchPipeline(const config::PipelineConfig& pc, metrics::Registry& metrics);

    // The leader thread.
    void run();
    void take_over();   // became leader: read the store, continue from it
    void step_down(const std::string& why);
    void tick();
    void flush();       // writes what the dispatcher changed, fenced by the term
    void trigger();
    void refresh_discovery_checks();
    void watch_checks(int64_t from_revision);
    void watch_assignments(int64_t from_revision);

    // HTTP (node_api.cpp).
    std::optional<admin::Response> handle_node_api(const admin::Request& req, const std::string& rest);
    std::optional<admin::Response> handle_checks_api(const admin::Request& req, const std::string& rest);
    admin::Response serve_as_leader(const admin::Request& req, const std::string& rest);
    admin::Response forward(const admin::Request& req);
    std::optional<admin::Response> unauthorized(const admin::Request& req, bool datadog) const;
    std::string state_json() const;

    bool leading() const { return election_ && election_->leading() && ready_ && !fenced_; }

    config::PipelineConfig pc_;
    config::DispatchConfig cfg_;
    metrics::Registry& metrics_;
    std::string node_id_, advertise_, identity_;  // identity_: the election value
    std::unique_ptr<plugins::Instance> kv_instance_, sink_instance_;
    std::unique_ptr<kv::KvClient> kv_;
    std::unique_ptr<sink::SinkClient> sink_;
    std::unique_ptr<DispatchStore> store_;
    std::unique_ptr<kv::Election> election_;
    std::unique_ptr<NodeAgent> node_;
    std::unique_ptr<kv::KvClient::Watch> checks_watch_, assign_watch_;
    discovery::Manager* discovery_ = nullptr;
    std::vector<uint64_t> subscriptions_;
    std::vector<CheckTemplate> templates_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false, wake_ = false, started_ = false;
    std::thread thread_;

    // Leader state (mu_).
    Dispatcher dispatcher_;
    std::atomic<bool> ready_{false}, fenced_{false};
    int64_t term_ = 0;
    std::chrono::system_clock::time_point since_{};
    Clock::time_point gather_until_{}, last_rebalance_at_{};
    bool waiting_for_nodes_ = false;
    std::map<std::string, Check> api_checks_, discovered_checks_;
    bool api_checks_valid_ = false, discovered_dirty_ = true;
    std::vector<std::string> template_errors_;
    std::map<std::string, int64_t> revisions_;  // assign/<node> → the mod revision this leader last saw
    std::set<std::string> rewrite_;             // node records to write again (foreign writes, failures)
    size_t assignments_taken_ = 0;
    std::string store_error_;
    struct LastRebalance {
        std::chrono::system_clock::time_point when{};
        std::string why, outcome;
        std::vector<Move> moves;
        double before = 0, after = 0;
    } last_rebalance_;
    std::deque<std::string> events_;  // recent leadership events for /status
    void note(const std::string& event);
};

// [[dispatch]] in the runtime's table of pipeline kinds.
pipeline::Factory factory();

}  // namespace herd::dispatch

// A [[sharding]] pipeline: named scrape configs in the KV store, spread over the herds of a fleet
// by a ring computed from the live members; each member hands only its share to its agent
// through its sink.
//
//  - Membership: one key per member, bound to a lease (membership.hpp).
//  - Reshard on a member change, a config change (a delete applies at once), and every
//    reshard_interval as a full relist in one ranged read; coalesced, on its own thread, never on
//    the heartbeat's.
//  - Make-before-break: a member records in its key the ring view whose share it has applied; a
//    member that loses a config keeps it until the new owner's record shows that view (or the new
//    owner vanished, or handoff_timeout passed). No moment without an owner while both live.
//  - Degraded: with the store unreachable a member keeps what it applied — it never empties its
//    agent because the store is down — and says so on /status and in herd_sharding_degraded.
//  - Leave (stop): the member marks itself leaving, waits (bounded) until the others applied its
//    share, empties its sink unless keep_on_leave, then revokes its lease.
#pragma once

#include "kv/kv_client.hpp"
#include "pipeline/pipeline.hpp"
#include "sharding/config_store.hpp"
#include "sharding/membership.hpp"
#include "sharding/ring.hpp"
#include "sink/sink_client.hpp"

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace herd::sharding {

class ShardingPipeline final : public pipeline::Pipeline {
public:
    static std::unique_ptr<ShardingPipeline> create(const config::PipelineConfig& pc, pipeline::Context& ctx,
                                                    config::Diagnostic* error);
    ~ShardingPipeline() override;

    std::string start(pipeline::Pipeline* replacing) override;
    void stop() override;
    pipeline::Summary summary() const override;
    std::string status_html() const override;
    std::optional<admin::Response> handle(const admin::Request& req) override;

    const std::string& member_id() const { return self_.id; }

private:
    ShardingPipeline(const config::PipelineConfig& pc, metrics::Registry& metrics);
    void run();              // the reshard thread
    void reshard(const std::string& why);
    void trigger(const std::string& why);
    void watch_configs(int64_t from_revision);  // keeps configs_ current, triggers reshards
    std::string item_name(const std::string& config) const;
    // The view id: which members the ring was computed from.
    static uint64_t view_of(const std::vector<std::string>& members);

    config::PipelineConfig pc_;
    config::ShardingConfig cfg_;
    metrics::Registry& metrics_;
    std::unique_ptr<plugins::Instance> kv_instance_, sink_instance_;
    std::unique_ptr<kv::KvClient> kv_;
    std::unique_ptr<sink::SinkClient> sink_;
    std::unique_ptr<ConfigStore> store_;
    std::unique_ptr<Membership> membership_;
    std::unique_ptr<kv::KvClient::Watch> config_watch_;
    // The configs as the watch keeps them (mu_): a config change costs no listing; a full relist
    // every reshard_interval (and after a watch reset) makes sure nothing drifts.
    std::map<std::string, std::string> configs_;
    bool configs_valid_ = false;
    // The ring of the last member list (reshard thread only): rebuilt only when the members change
    // — 100 members x 4096 tokens is a 400 000-point sort, not to be paid per config change.
    std::vector<std::string> ring_members_;
    Ring ring_;
    Member self_;
    std::chrono::milliseconds drain_timeout_{10000};  // [host]: leaving must end well within it

    mutable std::mutex mu_;
    std::condition_variable cv_, left_cv_;  // reshard wanted; a leaving reshard finished
    bool pending_ = false, stopping_ = false, leaving_ = false, left_ = false, started_ = false;
    std::string pending_why_;
    std::thread thread_;

    // One thing the ring places: a config (key = its name) or a discovered target
    // (key = "t:<discovery>:<label hash>").
    struct Unit {
        uint64_t hash = 0;
        std::string discovery;  // "" for a config
        std::string payload;    // the config's YAML, or the target's labels as JSON
        bool operator==(const Unit&) const = default;
    };
    std::map<std::string, Unit> gather_targets();

    discovery::Manager* discovery_ = nullptr;
    std::vector<uint64_t> subscriptions_;

    // What the reshard thread knows (mu_ guards it for /status).
    std::map<std::string, Unit> applied_;                      // what the sink holds
    std::map<std::string, std::chrono::steady_clock::time_point> handing_off_;  // since when
    std::map<std::string, std::string> refused_;               // config -> why the agent refused it
    std::vector<std::string> view_members_;
    uint64_t view_ = 0;
    std::map<std::string, double> shares_;
    std::map<std::string, size_t> owned_count_;   // configs per member
    std::map<std::string, size_t> owned_targets_; // targets per member
    std::string degraded_;  // why, "" when healthy
    struct LastReshard {
        std::chrono::system_clock::time_point when{};
        std::string why;
        double seconds = 0;
        size_t added = 0, removed = 0;
    } last_;
};

// [[sharding]] in the runtime's table of pipeline kinds.
pipeline::Factory factory();

}  // namespace herd::sharding

// Fans target groups in from discovery instances and out to subscribers.
// A provider's update replaces the groups of the sources it names; an empty group removes its
// source. Unchanged groups are dropped (de-duplicated), so subscribers only hear real changes.
// Delivery happens on the manager's own thread, right away: a slow subscriber never blocks a
// provider, and nothing is throttled (Prometheus waits 5 s; herd does not).
#pragma once

#include "discovery/target_group.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace herd::metrics {
class Registry;
}

namespace herd::discovery {

struct ProviderStatus {
    enum class State { starting, healthy, failing, stopped };
    State state = State::starting;
    std::string last_error;
    std::chrono::system_clock::time_point last_update{};
    std::chrono::system_clock::time_point last_error_at{};
    uint64_t updates = 0;
    uint64_t errors = 0;
    size_t groups = 0;
    size_t targets = 0;
};
const char* state_name(ProviderStatus::State s);

class Manager {
public:
    // Called with (provider, changed groups). The first call after subscribe() carries every
    // current group. Runs on the manager's thread; must not call back into subscribe/unsubscribe.
    using Callback = std::function<void(const std::string& provider, const std::vector<TargetGroup>& changed)>;

    explicit Manager(metrics::Registry& metrics);
    ~Manager();

    void add_provider(const std::string& name);
    // Forgets the provider's groups; subscribers hear that every source vanished.
    void remove_provider(const std::string& name);

    // What a provider reports (from any thread).
    void update(const std::string& provider, std::string_view groups_json);
    void report_error(const std::string& provider, std::string_view message);
    void report_healthy(const std::string& provider);

    uint64_t subscribe(const std::string& provider, Callback cb);
    void unsubscribe(uint64_t id);

    std::vector<TargetGroup> groups(const std::string& provider) const;
    std::optional<ProviderStatus> status(const std::string& provider) const;
    std::vector<std::string> providers() const;

    // Blocks until every update queued so far has been delivered (tests, `herd sd --once`).
    void flush();

private:
    struct Provider {
        std::map<std::string, TargetGroup> by_source;
        ProviderStatus status;
    };
    struct Delivery {
        std::string provider;
        std::vector<TargetGroup> changed;
        std::optional<uint64_t> only;  // initial snapshot for one subscriber
        uint64_t seq = 0;
    };
    struct Subscriber {
        std::string provider;
        Callback cb;
        uint64_t since = 0;  // its snapshot's seq: it hears only deliveries queued after it
    };

    void enqueue(Delivery d);  // mu_ held
    void run();
    void publish_metrics(const std::string& name, const Provider& p);

    metrics::Registry& metrics_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::condition_variable idle_cv_;
    std::map<std::string, Provider> providers_;
    std::map<uint64_t, Subscriber> subscribers_;
    uint64_t next_id_ = 1;
    std::deque<Delivery> queue_;
    uint64_t enqueued_ = 0, delivered_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace herd::discovery

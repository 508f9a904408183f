// sd_hello: a discovery plugin that announces a fixed set of targets, every `interval`, with a
// counter of announcements. Small on purpose: it shows every piece a plugin has.
//
//   [[discovery]]
//   name = "hello"
//   plugin = "sd_hello"
//   targets = ["127.0.0.1:9100"]
//   interval = "30s"           # optional
#include <herd/sdk/json_config.hpp>  // strict config reading (nlohmann_json)
#include <herd/sdk/plugin.hpp>       // base classes, trampolines, HERD_PLUGIN

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

class HelloDiscovery final : public herd::sdk::Discovery {
public:
    // Validate everything here and throw ConfigError(key, why): herd shows it at file:line:col.
    // Start nothing here: `herd check` creates instances only to validate them.
    explicit HelloDiscovery(const herd::sdk::CreateContext& ctx) : host_(ctx.host) {
        herd::sdk::JsonConfig cfg(ctx.config_json);
        targets_ = cfg.strings("targets").value_or(std::vector<std::string>{});
        if (targets_.empty()) throw herd::sdk::ConfigError("targets", "name at least one host:port");
        interval_ = cfg.duration("interval").value_or(std::chrono::seconds(30));
        cfg.finish();  // any key not read above is a typo: refuse it
        announcements_ = host_.counter("herd_sd_hello_announcements_total", "Times sd_hello sent its targets.",
                                       {"discovery"})
                             .with({ctx.instance_name});
    }

    void start(herd::sdk::DiscoverySink sink) override {
        sink_ = sink;
        announce();
        thread_ = std::thread([this] {
            std::unique_lock lk(mu_);
            while (!cv_.wait_for(lk, interval_, [this] { return stopping_; })) announce();
        });
    }

    void stop() noexcept override {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

private:
    void announce() {
        std::string json = R"([{"source":"hello","labels":{"greeting":"hello"},"targets":[)";
        for (size_t i = 0; i < targets_.size(); ++i)
            json += (i ? "," : "") + std::string(R"({"__address__":")") + targets_[i] + "\"}";
        json += "]}]";
        sink_.update(json);
        announcements_.add();
        host_.debug("announced " + std::to_string(targets_.size()) + " targets");
    }

    herd::sdk::Host host_;
    std::vector<std::string> targets_;
    std::chrono::milliseconds interval_;
    herd::sdk::Series announcements_;
    herd::sdk::DiscoverySink sink_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace

HERD_PLUGIN("sd_hello", "1.0.0", "An example third-party discovery plugin",
            herd::sdk::factory<HelloDiscovery>("sd_hello", "announces a fixed list of targets"))

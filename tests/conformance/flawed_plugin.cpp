// A plugin that breaks the ABI's contract on purpose, one factory per kind, so herd's tests can
// show the conformance kit catches each breach (a kit that passes everything proves nothing).
#include <herd/sdk/json_config.hpp>
#include <herd/sdk/plugin.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

namespace {

using namespace herd;

// KV: CAS ignores the expected revision (lost updates), accepts unknown keys, watches deliver nothing.
class FlawedKv final : public sdk::Kv {
public:
    explicit FlawedKv(const sdk::CreateContext&) {}  // no finish(): unknown keys pass
    void get(std::string_view key, const sdk::KvEntrySink& out) override {
        std::lock_guard lk(mu_);
        auto it = data_.find(std::string(key));
        if (it == data_.end()) throw sdk::Error(HERD_ERR_NOT_FOUND, "absent");  // does not name the key
        out(key, it->second.first, it->second.second, it->second.second);
    }
    int64_t list(std::string_view prefix, const sdk::KvEntrySink& out) override {
        std::lock_guard lk(mu_);
        for (auto& [k, v] : data_)
            if (k.rfind(prefix, 0) == 0) out(k, v.first, v.second, v.second);
        return rev_;
    }
    int64_t put(std::string_view key, std::string_view value, int64_t, int64_t) override {
        std::string k(key);
        int64_t r;
        {
            std::lock_guard lk(mu_);
            r = ++rev_;
        }
        std::this_thread::yield();  // a read-modify-write window, as a get-then-put client has
        std::lock_guard lk(mu_);
        data_[k] = {std::string(value), r};
        return r;
    }
    int64_t del(std::string_view key, int64_t) override {
        std::lock_guard lk(mu_);
        if (!data_.erase(std::string(key))) throw sdk::Error(HERD_ERR_NOT_FOUND, "absent");
        return ++rev_;
    }
    herd_kv_watch* watch(std::string_view, int64_t, const herd_kv_watch_sink*) override {
        return reinterpret_cast<herd_kv_watch*>(this);
    }
    void unwatch(herd_kv_watch*) noexcept override {}

private:
    std::mutex mu_;
    std::map<std::string, std::pair<std::string, int64_t>> data_;
    int64_t rev_ = 0;
};

// Discovery: starts a thread in create, sends a group without __address__, keeps calling after stop.
class FlawedDiscovery final : public sdk::Discovery {
public:
    explicit FlawedDiscovery(const sdk::CreateContext& ctx) {
        sdk::JsonConfig(ctx.config_json).finish();
        idle_ = std::thread([this] {
            while (!quit_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        });
    }
    ~FlawedDiscovery() override {
        quit_ = true;
        idle_.join();
        if (worker_.joinable()) worker_.detach();  // leaks on purpose: calls the sink after stop
    }
    void start(sdk::DiscoverySink sink) override {
        worker_ = std::thread([sink] {
            for (int i = 0; i < 400; ++i) {
                sink.update(R"([{"source":"s","targets":[{"job":"x"}],"labels":{}}])");
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        });
    }
    void stop() noexcept override {}  // returns while the worker still calls the sink

private:
    std::atomic<bool> quit_{false};
    std::thread idle_, worker_;
};

// Selector: does not write score, leaves eligible alone for not-ready backends, picks out of range.
class FlawedSelector final : public sdk::Selector {
public:
    explicit FlawedSelector(const sdk::CreateContext& ctx) { sdk::JsonConfig(ctx.config_json).finish(); }
    uint32_t needs() const noexcept override { return 1u << 30; }
    void select(std::span<const herd_backend_stats* const> b, std::span<uint8_t> eligible, std::span<double>) override {
        for (size_t i = 0; i < b.size(); ++i) eligible[i] = 1;
    }
    size_t pick(const herd_request&, std::span<const herd_backend* const> eligible) noexcept override {
        return n_++ % (eligible.size() + 1);
    }

private:
    std::atomic<size_t> n_{0};
};

// Affinity: binds by position, not by backend.
class FlawedAffinity final : public sdk::Affinity {
public:
    explicit FlawedAffinity(const sdk::CreateContext& ctx) { sdk::JsonConfig(ctx.config_json).finish(); }
    int64_t lookup(const herd_request&, std::span<const herd_backend* const> eligible) noexcept override {
        return last_ < 0 ? HERD_AFFINITY_NONE : std::min<int64_t>(last_, static_cast<int64_t>(eligible.size()));
    }
    void remember(const herd_request&, const herd_backend& chosen, const sdk::HeaderSink&) noexcept override {
        last_ = chosen.address.size > 7 ? static_cast<int64_t>(chosen.address.data[7] - '1') : 0;
    }

private:
    std::atomic<int64_t> last_{-1};
};

// Sink: adds what it is given but never removes anything.
class FlawedSink final : public sdk::Sink {
public:
    explicit FlawedSink(const sdk::CreateContext& ctx) { sdk::JsonConfig(ctx.config_json).finish(); }
    void apply(std::span<const sdk::SinkItemView> items) override {
        std::lock_guard lk(mu_);
        for (const auto& i : items) held_[std::string(i.name)] = {std::string(i.name), std::string(i.media_type), std::string(i.body)};
    }
    std::vector<sdk::SinkItem> held() override {
        std::lock_guard lk(mu_);
        std::vector<sdk::SinkItem> out;
        for (auto& [n, i] : held_) out.push_back(i);
        return out;
    }

private:
    std::mutex mu_;
    std::map<std::string, sdk::SinkItem> held_;
};

// A selector written against the raw C ABI (no SDK to clamp its answers): pick() returns count.
const herd_factory* raw_selector() {
    static int instance = 0;
    static const herd_selector_ops ops{
        {sizeof(herd_selector_ops), HERD_ABI_MAJOR, HERD_ABI_MINOR},
        [](void*) -> uint32_t { return HERD_STAT_READY; },
        [](void*, const herd_backend_stats* const*, size_t n, uint8_t* eligible, double* score, herd_error_out*) -> herd_status {
            for (size_t i = 0; i < n; ++i) eligible[i] = 1, score[i] = 0;
            return HERD_OK;
        },
        [](void*, const herd_request*, const herd_backend* const*, size_t count) -> size_t { return count; }};
    static const herd_factory f{{sizeof(herd_factory), HERD_ABI_MAJOR, HERD_ABI_MINOR},
                                HERD_KIND_SELECTOR,
                                "flawed_raw_selector",
                                "picks one past the end",
                                [](const herd_create_args* args, void** out, herd_error_out* err) -> herd_status {
                                    if (args->config_json.size > 2) {  // anything but {}
                                        const char m[] = "flawed_raw_selector takes no configuration";
                                        err->set(err->ctx, {m, sizeof m - 1});
                                        return HERD_ERR_INVALID_ARGUMENT;
                                    }
                                    *out = &instance;
                                    return HERD_OK;
                                },
                                [](void*) {},
                                nullptr,
                                nullptr,
                                &ops,
                                nullptr,
                                nullptr};
    return &f;
}

}  // namespace

HERD_PLUGIN("flawed", "0.0.1", "Breaks the ABI's contract on purpose (conformance kit tests)",
            herd::sdk::factory<FlawedKv>("flawed_kv", "CAS ignores the revision"),
            herd::sdk::factory<FlawedDiscovery>("flawed_discovery", "calls its sink after stop"),
            herd::sdk::factory<FlawedSelector>("flawed_selector", "picks out of range"),
            herd::sdk::factory<FlawedAffinity>("flawed_affinity", "binds by position"),
            herd::sdk::factory<FlawedSink>("flawed_sink", "never removes"), raw_selector())

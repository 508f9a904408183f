// sink_echo: the smallest useful sink — it keeps the set a pipeline hands it in one JSON file
// (an "agent" that reads a single index file), atomically. It shows what every sink does:
// validate in the constructor, hold exactly the applied set, be idempotent, name the items it
// refuses, and say what it holds — also to the next instance, after a restart.
// `herd conformance --plugin sink_echo.so --config '{"file": "/tmp/index.json"}'` checks all that.
//
//   [[sink]]
//   name = "index"
//   plugin = "sink_echo"
//   file = "/var/lib/agent/index.json"
#include <herd/sdk/json_config.hpp>
#include <herd/sdk/plugin.hpp>
#include <herd/sdk/sink_support.hpp>  // check_item_name: the rules the host applies too

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

namespace {

class EchoSink final : public herd::sdk::Sink {
public:
    explicit EchoSink(const herd::sdk::CreateContext& ctx) {
        herd::sdk::JsonConfig cfg(ctx.config_json);
        file_ = ctx.path(cfg.string("file", ""));
        cfg.finish();
        if (file_.empty()) throw herd::sdk::ConfigError("file", "sink_echo needs file = \"<index file>\"");
        // What the agent holds survives herd: a restarted herd must find it (held() tells the
        // pipeline what already runs, so nothing is applied twice or dropped).
        std::ifstream in(file_, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        if (in && nlohmann::json::parse(text.str(), nullptr, false).is_object()) current_ = text.str();
    }

    // The host never calls apply() concurrently on one instance, but held() may come from another thread.
    void apply(std::span<const herd::sdk::SinkItemView> items) override {
        nlohmann::json index = nlohmann::json::object();
        std::vector<std::pair<std::string, std::string>> refused;
        for (const auto& it : items) {
            if (auto why = herd::sdk::check_item_name(it.name); !why.empty()) refused.emplace_back(std::string(it.name), why);
            index[std::string(it.name)] = {{"media_type", it.media_type}, {"body", it.body}};
        }
        if (!refused.empty()) throw herd::sdk::SinkRefused(HERD_ERR_INVALID_ARGUMENT, "bad item names", refused);
        const std::string text = index.dump(2) + "\n";
        std::lock_guard lk(mu_);
        if (text == current_) return;  // idempotent: the same set writes nothing
        const std::string tmp = file_ + ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            out << text;
            if (!out.flush()) throw herd::sdk::Error(HERD_ERR_UNAVAILABLE, "cannot write " + tmp);
        }
        if (std::rename(tmp.c_str(), file_.c_str()) != 0)
            throw herd::sdk::Error(HERD_ERR_UNAVAILABLE, "cannot rename " + tmp + " to " + file_);
        current_ = text;
    }

    std::vector<herd::sdk::SinkItem> held() override {
        std::lock_guard lk(mu_);
        std::vector<herd::sdk::SinkItem> out;
        if (current_.empty()) return out;
        // Keep the parsed document in a variable: a range-for over parse(...).items() would iterate a
        // destroyed temporary (C++20 extends only the proxy's lifetime).
        const nlohmann::json index = nlohmann::json::parse(current_);
        for (const auto& [name, v] : index.items())
            out.push_back({name, v["media_type"], v["body"]});
        return out;
    }

private:
    std::string file_;
    std::string current_;
    std::mutex mu_;
};

}  // namespace

HERD_PLUGIN("sink_echo", "1.0.0", "Keeps a pipeline's items in one JSON index file",
            herd::sdk::factory<EchoSink>("sink_echo", "the applied set as one JSON file"))

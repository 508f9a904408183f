// sink_files: one file per item in a directory, for agents that read a directory — Prometheus
// file_sd, vmagent, Telegraf, Datadog's conf.d.
//
//   [[sink]]
//   name = "conf-d"
//   plugin = "sink_files"
//   dir = "/etc/datadog-agent/conf.d"      # files are <item>.yml / .json / .yaml (by media type)
//   reload_url = "http://127.0.0.1:8429/-/reload"   # optional; or pid_file = "...", reload_signal = "SIGHUP"
//
// It removes only files it wrote (its manifest, .herd-sink-manifest, lists them): a user's own
// files in the directory are never touched, and never overwritten.
#include "agent_reload.hpp"
#include "file_set.hpp"

#include <herd/sdk/json_config.hpp>
#include <herd/sdk/plugin.hpp>

#include <mutex>

namespace herd::sink_files {
using files::FileSet;
namespace {

class SinkFiles final : public sdk::Sink {
public:
    explicit SinkFiles(const sdk::CreateContext& ctx) : host_(ctx.host) {
        sdk::JsonConfig cfg(ctx.config_json);
        auto dir = cfg.string("dir");
        reload_ = agent::read_reload_config(cfg, ctx);
        cfg.finish();
        if (!dir || dir->empty()) throw sdk::ConfigError("dir", "sink_files needs dir = \"<directory the agent reads>\"");
        files_ = std::make_unique<FileSet>(ctx.path(*dir));
        applies_ = host_.counter("herd_sink_files_applies_total", "Applies of a sink_files instance by result.",
                                 {"sink", "result"});
        items_ = host_.gauge("herd_sink_files_items", "Files a sink_files instance holds.", {"sink"}).with({ctx.instance_name});
        name_ = ctx.instance_name;
        items_.set(static_cast<double>(files_->owned().size()));
    }

    void apply(std::span<const sdk::SinkItemView> items) override {
        std::lock_guard lk(mu_);
        try {
            apply_locked(items);
            applies_.with({name_, "success"}).add();
        } catch (...) {
            applies_.with({name_, "failure"}).add();
            throw;
        }
        items_.set(static_cast<double>(files_->owned().size()));
    }

    std::vector<sdk::SinkItem> held() override {
        std::lock_guard lk(mu_);
        return files_->held();
    }

private:
    void apply_locked(std::span<const sdk::SinkItemView> items) {
        auto plan = files_->plan(items);
        if (plan.empty()) return;  // it holds exactly this already: nothing to write, nothing to reload
        auto previous = files_->owned();
        auto before = files_->carry_out(plan);
        if (!reload_.configured()) return;
        try {
            agent::reload(reload_, http_);
        } catch (const sdk::Error& e) {
            // The agent did not take the new files: put the old ones back and let it read those.
            files_->undo(before, std::move(previous));
            std::string again;
            try {
                agent::reload(reload_, http_);
            } catch (const sdk::Error& e2) {
                again = "; reloading the previous files failed too: " + std::string(e2.what());
            }
            throw sdk::Error(e.status(), std::string("the agent did not take the new files (") + e.what() +
                                             "); the previous files are back" + again);
        }
    }

    sdk::Host host_;
    std::string name_;
    agent::ReloadConfig reload_;
    net::HttpClient http_;
    std::unique_ptr<FileSet> files_;
    sdk::Family applies_;
    sdk::Series items_;
    std::mutex mu_;
};

}  // namespace
}  // namespace herd::sink_files

HERD_PLUGIN("sink_files", "0.1.0", "Writes a pipeline's items as files into a directory an agent reads",
            herd::sdk::factory<herd::sink_files::SinkFiles>(
                "sink_files", "one file per item in a directory (file_sd, vmagent, Telegraf, conf.d); optional reload"))

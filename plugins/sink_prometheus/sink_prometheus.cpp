// sink_prometheus: makes a vanilla Prometheus (Debian's 2.42) scrape exactly what a pipeline owns.
//
//   [[sink]]
//   name = "local-prometheus"
//   plugin = "sink_prometheus"
//   base = "/etc/prometheus/base.yml"           # the user's own config: global, rules, remote_write, jobs
//   output = "/etc/prometheus/prometheus.yml"   # what Prometheus reads (--config.file)
//   reload_url = "http://127.0.0.1:9090/-/reload"   # or pid_file = "/run/prometheus.pid" (SIGHUP)
//
// Scrape-config items are rendered into `output` together with the base file; target-group items
// become file_sd files in `file_sd_dir` (which a file_sd_configs job of the base reads: no reload
// needed). Every write is atomic; `promtool check config` vets a file before it is swapped in;
// after a reload the sink confirms through Prometheus' own metrics that it took the file. A
// refused file is replaced by the last good one, which is reloaded, and the error names the items.
#include "atomic_file.hpp"
#include "file_set.hpp"
#include "prometheus_agent.hpp"
#include "render.hpp"

#include <herd/sdk/json_config.hpp>
#include <herd/sdk/plugin.hpp>
#include <herd/sdk/sink_support.hpp>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <set>

namespace herd::sink_prometheus {
namespace {

namespace fs = std::filesystem;

std::string find_promtool() {
    for (const char* p : {"/usr/bin/promtool", "/usr/local/bin/promtool"})
        if (::access(p, X_OK) == 0) return p;
    return {};
}

// A target-group item must be what file_sd reads: [{"targets": ["h:p", ...], "labels": {...}}].
std::string check_groups(std::string_view body) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(body);
    } catch (const std::exception& e) {
        return std::string("not valid JSON: ") + e.what();
    }
    if (!j.is_array()) return "target groups must be a JSON array";
    for (const auto& g : j) {
        if (!g.is_object() || !g.contains("targets") || !g["targets"].is_array())
            return "every target group needs a \"targets\" array";
        for (const auto& t : g["targets"])
            if (!t.is_string()) return "targets must be strings (\"host:port\")";
        if (g.contains("labels") && !g["labels"].is_object()) return "\"labels\" must be an object";
    }
    return {};
}

// What the sink last made Prometheus take: its scrape-config items, and fingerprints of the base
// and the rendered file then. One JSON file in the instance's data_dir (written atomically), so a
// herd that starts again knows what its Prometheus runs — and an unchanged set costs no render.
class Record {
public:
    explicit Record(fs::path file) : file_(std::move(file)) {
        bool exists = false;
        const std::string text = files::read_file(file_, &exists);
        if (!exists) return;
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return;  // unreadable: the next apply renders anew
        base_fp = j.value("base_fp", uint64_t{0});
        output_fp = j.value("output_fp", uint64_t{0});
        if (!j.contains("items") || !j["items"].is_object()) return;
        const nlohmann::json& held = j["items"];
        for (auto it = held.begin(); it != held.end(); ++it)
            if (it.value().is_string()) items[it.key()] = it.value().get<std::string>();
    }
    // The items of `scrape` that are new or changed since the record.
    std::set<std::string> changed(std::span<const sdk::SinkItemView> scrape) const {
        std::set<std::string> out;
        for (const auto& it : scrape)
            if (auto at = items.find(std::string(it.name)); at == items.end() || at->second != it.body)
                out.insert(std::string(it.name));
        return out;
    }
    bool same_set(std::span<const sdk::SinkItemView> scrape) const { return scrape.size() == items.size() && changed(scrape).empty(); }
    void save(std::span<const sdk::SinkItemView> scrape, uint64_t base, uint64_t output) {
        std::map<std::string, std::string> next;
        for (const auto& it : scrape) next[std::string(it.name)] = std::string(it.body);
        nlohmann::json j{{"base_fp", base}, {"output_fp", output}, {"items", next}};
        files::write_atomic(file_, j.dump());
        items = std::move(next);
        base_fp = base;
        output_fp = output;
    }
    std::map<std::string, std::string> items;
    uint64_t base_fp = 0, output_fp = 0;

private:
    fs::path file_;
};

class SinkPrometheus final : public sdk::Sink {
public:
    explicit SinkPrometheus(const sdk::CreateContext& ctx) : host_(ctx.host), name_(ctx.instance_name) {
        sdk::JsonConfig cfg(ctx.config_json);
        base_ = ctx.path(cfg.string("base", ""));
        output_ = ctx.path(cfg.string("output", ""));
        auto reload = agent::read_reload_config(cfg, ctx);
        std::string metrics_url = cfg.string("metrics_url", "");
        std::string file_sd = cfg.string("file_sd_dir", "");
        promtool_ = cfg.has("promtool") ? cfg.string("promtool", "") : find_promtool();
        cfg.finish();
        if (base_.empty()) throw sdk::ConfigError("base", "sink_prometheus needs base = \"<your Prometheus config>\"");
        if (output_.empty()) throw sdk::ConfigError("output", "sink_prometheus needs output = \"<the file Prometheus reads>\"");
        if (fs::absolute(base_) == fs::absolute(output_))
            throw sdk::ConfigError("output", "must not be the base file: output is rewritten on every change");
        bool exists = false;
        files::read_file(base_, &exists);
        if (!exists) throw sdk::ConfigError("base", "cannot read " + base_);
        if (!reload.configured())
            throw sdk::ConfigError("reload_url", "sink_prometheus needs reload_url (Prometheus with --web.enable-lifecycle) "
                                                 "or pid_file (SIGHUP)");
        const std::string suffix = "/-/reload";
        std::string root;
        if (!reload.url.empty() && reload.url.size() > suffix.size() &&
            reload.url.compare(reload.url.size() - suffix.size(), suffix.size(), suffix) == 0)
            root = reload.url.substr(0, reload.url.size() - suffix.size());
        if (metrics_url.empty()) {
            if (root.empty()) throw sdk::ConfigError("metrics_url", "needed to confirm reloads (e.g. \"http://127.0.0.1:9090/metrics\")");
            metrics_url = root + "/metrics";
        }
        if (root.empty() && metrics_url.size() > 8) root = metrics_url.substr(0, metrics_url.rfind("/metrics"));
        if (!promtool_.empty() && ::access(promtool_.c_str(), X_OK) != 0)
            throw sdk::ConfigError("promtool", "cannot run " + promtool_ + " (\"\" turns the check off)");
        file_sd_ = std::make_unique<files::FileSet>(
            file_sd.empty() ? fs::path(output_).parent_path() / "herd-file-sd" : fs::path(ctx.path(file_sd)));
        record_ = std::make_unique<Record>(fs::path(ctx.data_dir) / "applied.json");
        agent_ = std::make_unique<PrometheusAgent>(reload, metrics_url, root + "/api/v1/query");
        applies_ = host_.counter("herd_sink_prometheus_applies_total", "Applies by result.", {"sink", "result"});
        phase_ = host_.gauge("herd_sink_prometheus_last_apply_seconds",
                             "How long the last apply spent in each phase.", {"sink", "phase"});
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
    }

    std::vector<sdk::SinkItem> held() override {
        std::lock_guard lk(mu_);
        std::vector<sdk::SinkItem> out;
        for (const auto& [name, body] : record_->items) out.push_back({name, HERD_SINK_SCRAPE_CONFIG, body});
        for (auto& g : file_sd_->held()) out.push_back(std::move(g));
        return out;
    }

    std::optional<std::string> load() override {
        std::lock_guard lk(mu_);
        auto by_job = agent_->samples_by_job();
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [name, body] : record_->items) {
            const std::vector<sdk::SinkItemView> one{{name, HERD_SINK_SCRAPE_CONFIG, body}};
            const auto parsed = parse_items(one, "", base_);  // kept: the loop below reads into it
            double sum = 0;
            for (const auto& job : parsed.at(0).jobs)
                if (auto it = by_job.find(job); it != by_job.end()) sum += it->second;
            out[name] = sum;
        }
        return out.dump();
    }

private:
    using Clock = std::chrono::steady_clock;
    void took(const char* phase, Clock::time_point since) {
        phase_.with({name_, phase}).set(std::chrono::duration<double>(Clock::now() - since).count());
    }

    // The rendered file with only these items, checked by promtool: "" or why not.
    std::string check(const std::string& base_text, const std::vector<ScrapeItem>& items) {
        const fs::path tmp = fs::path(output_).parent_path() / (".herd-check-" + std::to_string(::getpid()) + ".yml");
        files::write_atomic(tmp, render(base_text, items));
        auto why = promtool_check(promtool_, tmp.string());
        std::error_code ec;
        fs::remove(tmp, ec);
        return why;
    }

    // Which changed items make the file fail: each is tried alone beside the unchanged ones.
    std::vector<std::pair<std::string, std::string>> culprits(                                                              const std::vector<ScrapeItem>& parsed,
                                                              const std::set<std::string>& changed,
                                                              const std::string& whole_error,
                                                              const std::function<std::string(const std::vector<ScrapeItem>&)>& try_set) {
        std::vector<ScrapeItem> unchanged;
        for (const auto& p : parsed)
            if (!changed.count(p.name)) unchanged.push_back(p);
        std::vector<std::pair<std::string, std::string>> out;
        size_t tried = 0;
        for (const auto& p : parsed) {
            if (!changed.count(p.name)) continue;
            if (++tried > 32) break;  // bounded: past this, the rest are blamed together below
            auto subset = unchanged;
            subset.push_back(p);
            if (auto why = try_set(subset); !why.empty()) out.emplace_back(p.name, why);
        }
        if (out.empty())  // no single item fails alone: the combination does
            for (const auto& name : changed) out.emplace_back(name, whole_error);
        return out;
    }

    void apply_locked(std::span<const sdk::SinkItemView> items) {
        auto t0 = Clock::now();
        std::vector<sdk::SinkItemView> scrape, groups;
        std::vector<std::pair<std::string, std::string>> refused;
        for (const auto& it : items) {
            if (it.media_type == HERD_SINK_SCRAPE_CONFIG) {
                scrape.push_back(it);
            } else if (it.media_type == HERD_SINK_TARGET_GROUPS) {
                if (auto why = check_groups(it.body); !why.empty()) refused.emplace_back(std::string(it.name), why);
                else groups.push_back(it);
            } else {
                refused.emplace_back(std::string(it.name), "sink_prometheus takes scrape configs and target groups, not " +
                                                               std::string(it.media_type));
            }
        }
        if (!refused.empty()) {
            const std::string msg = "item \"" + refused[0].first + "\": " + refused[0].second +
                                    (refused.size() > 1 ? " (and " + std::to_string(refused.size() - 1) + " more)" : "");
            throw sdk::SinkRefused(HERD_ERR_INVALID_ARGUMENT, msg, std::move(refused));
        }
        bool base_exists = false;
        const std::string base_text = files::read_file(base_, &base_exists);
        if (!base_exists) throw sdk::Error(HERD_ERR_UNAVAILABLE, "cannot read the base file " + base_);
        auto group_plan = file_sd_->plan(groups);
        bool output_exists = false;
        const std::string current = files::read_file(output_, &output_exists);
        const uint64_t base_fp = sdk::fingerprint(base_text), current_fp = sdk::fingerprint(current);
        // The set it holds, the same base, the file as it left it: nothing to render or reload.
        if (group_plan.empty() && output_exists && record_->same_set(scrape) && record_->base_fp == base_fp &&
            record_->output_fp == current_fp)
            return;
        auto parsed = parse_items(scrape, base_text, base_);
        const std::string rendered = render(base_text, parsed);
        const bool config_changes = !output_exists || rendered != current;
        took("render", t0);
        const std::set<std::string> changed = record_->changed(scrape);
        if (!config_changes && group_plan.empty()) {  // e.g. only an item's name key changed
            record_->save(scrape, base_fp, current_fp);
            return;
        }
        if (config_changes && !promtool_.empty()) {
            auto t1 = Clock::now();
            if (auto why = check(base_text, parsed); !why.empty()) {
                auto blame = culprits(parsed, changed, why,
                                      [&](const std::vector<ScrapeItem>& s) { return check(base_text, s); });
                took("check", t1);
                const std::string msg = "promtool refused the configuration: " + why + " (item \"" + blame[0].first + "\")";
                throw sdk::SinkRefused(HERD_ERR_INVALID_ARGUMENT, msg, std::move(blame));
            }
            took("check", t1);
        }

        // Prometheus must be there to confirm anything: find out before touching a file.
        ReloadState before;
        if (config_changes) before = agent_->state();
        auto t2 = Clock::now();
        auto groups_previous = file_sd_->owned();  // the manifest to go back to if Prometheus refuses
        auto groups_before = file_sd_->carry_out(group_plan);
        if (config_changes) files::write_atomic(output_, rendered);
        took("write", t2);
        if (config_changes) {
            auto t3 = Clock::now();
            try {
                agent_->reload_and_confirm(before);
            } catch (const sdk::Error& e) {
                restore(current, output_exists);
                file_sd_->undo(groups_before, std::move(groups_previous));
                took("reload", t3);
                if (e.status() != HERD_ERR_INVALID_ARGUMENT)
                    throw sdk::Error(e.status(), std::string(e.what()) + "; the previous configuration file is back");
                // Refused by Prometheus itself: find which items by trying each (no promtool, or
                // something promtool does not check).
                auto blame = culprits(parsed, changed, e.what(), [&](const std::vector<ScrapeItem>& s) {
                    return try_in_prometheus(base_text, s, current, output_exists);
                });
                const std::string msg = std::string(e.what()) + " (item \"" + blame[0].first +
                                        "\"); Prometheus runs the previous configuration";
                throw sdk::SinkRefused(HERD_ERR_INVALID_ARGUMENT, msg, std::move(blame));
            }
            took("reload", t3);
        }
        record_->save(scrape, base_fp, sdk::fingerprint(config_changes ? rendered : current));
    }

    // Puts the last good file back and makes Prometheus read it again.
    void restore(const std::string& previous, bool existed) {
        try {
            if (existed) files::write_atomic(output_, previous);
            else files::remove_durable(output_);
            auto s = agent_->state();
            agent_->reload_and_confirm(s);
        } catch (const std::exception& e) {
            host_.error("sink " + name_ + ": restoring the previous configuration: " + e.what());
        }
    }

    // Whether Prometheus takes the file with exactly these items; restores the previous file after.
    std::string try_in_prometheus(const std::string& base_text, const std::vector<ScrapeItem>& items,
                                  const std::string& previous, bool existed) {
        std::string why;
        try {
            auto s = agent_->state();
            files::write_atomic(output_, render(base_text, items));
            agent_->reload_and_confirm(s);
        } catch (const std::exception& e) {
            why = e.what();
        }
        restore(previous, existed);
        return why;
    }

    sdk::Host host_;
    std::string name_, base_, output_, promtool_;
    std::unique_ptr<files::FileSet> file_sd_;
    std::unique_ptr<Record> record_;
    std::unique_ptr<PrometheusAgent> agent_;
    sdk::Family applies_, phase_;
    std::mutex mu_;
};

}  // namespace
}  // namespace herd::sink_prometheus

HERD_PLUGIN("sink_prometheus", "0.1.0", "Makes a vanilla Prometheus scrape exactly what a pipeline owns",
            herd::sdk::factory<herd::sink_prometheus::SinkPrometheus>(
                "sink_prometheus", "renders base + owned scrape configs, file_sd for owned targets; reload confirmed"))

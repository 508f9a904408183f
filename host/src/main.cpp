// herd — a plugin host for fleets of Prometheus-style monitoring agents.
#include "cli/commands.hpp"
#include "util/child_process.hpp"
#include "version.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <herd/plugin_api.h>
#include <herd/sdk/duration.hpp>

#include <iostream>

namespace {

std::filesystem::path default_plugin_dir() {
    // The build tree mirrors the install tree: <prefix>/bin/herd and <prefix>/<libdir>/herd/plugins.
    return (herd::util::self_executable().parent_path().parent_path() / HERD_PLUGIN_SUBDIR).lexically_normal();
}

}  // namespace

int main(int argc, char** argv) {
    auto logger = spdlog::stderr_color_mt("herd");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %v");

    herd::cli::Common common;
    common.default_plugin_dir = default_plugin_dir();

    CLI::App app{"herd " HERD_VERSION " — a plugin host for fleets of Prometheus-style monitoring agents"};
    app.require_subcommand(1);
    // Global flags (--log-level, --no-isolation) also after the subcommand: `herd run -c F --log-level debug`.
    app.fallthrough();
    app.set_version_flag("--version", std::string("herd ") + HERD_VERSION + " (plugin ABI " +
                                          std::to_string(HERD_ABI_MAJOR) + "." + std::to_string(HERD_ABI_MINOR) + ")");
    app.add_option("--log-level", common.log_level, "trace, debug, info, warn, error (overrides [host] log_level)")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    bool no_isolation = false;
    app.add_flag("--no-isolation", no_isolation,
                 "load plugins straight into this process, without trying them in a child process first");

    std::filesystem::path config;
    auto* run = app.add_subcommand("run", "Load plugins and run the configured pipelines until SIGTERM (SIGHUP reloads)");
    run->add_option("-c,--config", config, "configuration file (TOML)")->required()->check(CLI::ExistingFile);

    auto* check = app.add_subcommand("check", "Validate a configuration: load its plugins and create its instances, start nothing");
    check->add_option("-c,--config", config, "configuration file (TOML)")->required();

    std::filesystem::path dir;
    bool json = false;
    auto* plugins = app.add_subcommand("plugins", "List the plugin files in a directory: what each provides, or why it was refused");
    plugins->add_option("dir", dir, "plugin directory (default: the one next to this binary)");
    plugins->add_flag("--json", json, "print JSON instead of a table");

    std::string sd_name;
    bool sd_once = false;
    std::string sd_timeout = "30s";
    auto* sd = app.add_subcommand("sd", "Print a discovery instance's target groups as Prometheus file_sd JSON (meta labels included)");
    sd->add_option("-c,--config", config, "configuration file (TOML)")->required();
    sd->add_option("--discovery", sd_name, "the [[discovery]] instance's name")->required();
    sd->add_flag("--once", sd_once, "print the first complete answer and exit (default: print every change until Ctrl-C)");
    sd->add_option("--timeout", sd_timeout, "with --once: how long to wait for the first answer (default 30s)");

    herd::cli::KvArgs kv_args;
    auto* kv = app.add_subcommand("kv", "Read and write a configured KV store (like etcdctl / consul kv)");
    kv->add_option("-c,--config", kv_args.config, "configuration file (TOML)")->required();
    kv->add_option("--kv", kv_args.name, "the [[kv]] instance's name (default: the only one; without any, the embedded store in data_dir)");
    kv->require_subcommand(1);
    kv->fallthrough();
    auto* kv_get = kv->add_subcommand("get", "print a key's value (exit 1 when absent)");
    kv_get->add_option("key", kv_args.key)->required();
    kv_get->add_flag("--json", kv_args.json, "print key, value and revisions as JSON");
    auto* kv_put = kv->add_subcommand("put", "write a value; prints the new revision (exit 3 on a failed --expect)");
    kv_put->add_option("key", kv_args.key)->required();
    kv_put->add_option("value", kv_args.value)->required();
    kv_put->add_option("--expect", kv_args.expect, "absent, any (default) or the revision the key must have");
    kv_put->add_option("--lease", kv_args.lease, "attach the key to a lease");
    auto* kv_del = kv->add_subcommand("del", "delete a key; prints the revision (exit 1 when absent)");
    kv_del->add_option("key", kv_args.key)->required();
    kv_del->add_option("--expect", kv_args.expect, "any (default) or the revision the key must have");
    auto* kv_list = kv->add_subcommand("list", "every key under a prefix, one JSON object per line");
    kv_list->add_option("prefix", kv_args.key, "key prefix (default: everything)");
    auto* kv_watch = kv->add_subcommand("watch", "print every change under a prefix until Ctrl-C");
    kv_watch->add_option("prefix", kv_args.key, "key prefix (default: everything)");
    kv_watch->add_option("--from", kv_args.from,
                         "now (default), first (every change the store still retains, then on) or a revision to start after");

    herd::cli::SinkArgs sink_args;
    auto* sink = app.add_subcommand("sink", "Apply items to a configured sink by hand, or show what it holds (for debugging)");
    sink->add_option("-c,--config", sink_args.config, "configuration file (TOML)")->required();
    sink->add_option("--sink", sink_args.name, "the [[sink]] instance's name (default: the only one)");
    sink->require_subcommand(1);
    sink->fallthrough();
    auto* sink_apply = sink->add_subcommand(
        "apply", "make the sink hold exactly these items: one file each, named after the item; .yml a scrape config, "
                 ".json file_sd target groups (no file: the empty set)");
    sink_apply->add_option("items", sink_args.items, "item files");
    auto* sink_show = sink->add_subcommand("show", "print what the sink holds, one JSON object per item");
    sink_show->add_flag("--load", sink_args.load, "print the per-item load the sink reports instead");

    herd::cli::ShardingArgs sh;
    auto* shard = app.add_subcommand("sharding", "A sharding pipeline's configs and ring from the command line");
    shard->add_option("-c,--config", sh.config, "configuration file (TOML)")->required();
    shard->add_option("--sharding", sh.name, "the [[sharding]] pipeline (default: the only one)");
    shard->require_subcommand(1);
    shard->fallthrough();
    auto* sh_configs = shard->add_subcommand("configs", "list the configs' names");
    auto* sh_get = shard->add_subcommand("get", "print a config");
    sh_get->add_option("name", sh.key)->required();
    auto* sh_put = shard->add_subcommand("put", "store a config from a YAML file (validated as the API does)");
    sh_put->add_option("name", sh.key)->required();
    sh_put->add_option("file", sh.file)->required();
    auto* sh_del = shard->add_subcommand("del", "delete a config");
    sh_del->add_option("name", sh.key)->required();
    auto* sh_ring = shard->add_subcommand("ring", "the members, their share of the ring and configs owned");
    auto* sh_owner = shard->add_subcommand("owner", "which member owns a config");
    sh_owner->add_option("key", sh.key)->required();

    herd::cli::DispatchArgs dp;
    auto* disp = app.add_subcommand("dispatch", "A dispatch pipeline's checks and assignments from the command line");
    disp->add_option("-c,--config", dp.config, "configuration file (TOML)")->required();
    disp->add_option("--dispatch", dp.name, "the [[dispatch]] pipeline (default: the only one)");
    disp->require_subcommand(1);
    disp->fallthrough();
    auto* dp_checks = disp->add_subcommand("checks", "list the checks put through the API (id, check_name)");
    auto* dp_get = disp->add_subcommand("get", "print a check as JSON");
    dp_get->add_option("id", dp.key)->required();
    auto* dp_put = disp->add_subcommand("put", "store a check from a YAML or JSON file (validated as the API does)");
    dp_put->add_option("id", dp.key)->required();
    dp_put->add_option("file", dp.file)->required();
    auto* dp_del = disp->add_subcommand("del", "delete a check");
    dp_del->add_option("id", dp.key)->required();
    auto* dp_assign = disp->add_subcommand("assignments", "where each check runs, as the store has it (check, node, term)");
    auto* dp_leader = disp->add_subcommand("leader", "who leads, and since which term");

    herd::cli::ConformanceArgs cf;
    auto* conf = app.add_subcommand("conformance", "Run the conformance kit against a plugin: every case of its kind's contract, "
                                                   "through the ABI, each in its own process; pass/fail per case");
    conf->add_option("--plugin", cf.plugin, "the plugin file (or the name of one in the default plugin directory)");
    conf->add_option("--kind", cf.kind, "kv, discovery, selector, affinity or sink (default: the plugin's only kind)");
    conf->add_option("--factory", cf.factory, "the factory to test (default: the plugin's only one of the kind)");
    conf->add_option("--config", cf.config, "the instance's configuration as JSON, or @file.json (default {})");
    conf->add_option("--config-dir", cf.config_dir, "base of relative paths in the configuration (default: here)");
    conf->add_option("--media-type", cf.media_type, "sink items: scrape-config (default), target-groups or check-config");
    conf->add_option("--require", cf.require, "capabilities whose absence fails a case instead of noting it: "
                                              "history, binary-keys, leases, validation, load, server-control")
        ->delimiter(',');
    conf->add_option("--case", cf.only, "run only the cases whose id matches this glob (\"kv.watch*\")");
    conf->add_option("--case-timeout", cf.case_timeout, "a case running longer is reported as hung (default 120s)");
    conf->add_option("--wait", cf.wait, "how long a promised event may take: the first groups, a watch event (default 10s)");
    conf->add_option("--stop-command", cf.stop_command, "kv: a shell command that stops the plugin's server (with --start-command: the server-failure cases)");
    conf->add_option("--start-command", cf.start_command, "kv: a shell command that starts it again and returns once it answers");
    conf->add_flag("--json", cf.json, "print one JSON report");
    conf->add_flag("--list", cf.list, "list the cases of --kind and exit");

    std::filesystem::path probe_file, probe_dir, probe_config_dir;
    std::string probe_kind, probe_factory, probe_instance;
    auto* probe_load = app.add_subcommand("__probe-load")->group("");
    probe_load->add_option("file", probe_file)->required();
    auto* probe_create = app.add_subcommand("__probe-create")->group("");
    probe_create->add_option("file", probe_file)->required();
    probe_create->add_option("kind", probe_kind)->required();
    probe_create->add_option("factory", probe_factory)->required();
    probe_create->add_option("instance", probe_instance)->required();
    probe_create->add_option("data_dir", probe_dir)->required();
    probe_create->add_option("config_dir", probe_config_dir)->required();

    CLI11_PARSE(app, argc, argv);
    common.isolate = !no_isolation;
    if (!common.log_level.empty()) spdlog::set_level(spdlog::level::from_str(common.log_level));

    try {
        if (*run) return herd::cli::run(common, config);
        if (*check) {
            if (common.log_level.empty()) spdlog::set_level(spdlog::level::warn);
            return herd::cli::check(common, config);
        }
        if (*kv) {
            if (common.log_level.empty()) spdlog::set_level(spdlog::level::err);
            for (auto* s : {kv_get, kv_put, kv_del, kv_list, kv_watch})
                if (*s) kv_args.action = s->get_name();
            return herd::cli::kv(common, kv_args);
        }
        if (*shard) {
            if (common.log_level.empty()) spdlog::set_level(spdlog::level::err);
            for (auto* x : {sh_configs, sh_get, sh_put, sh_del, sh_ring, sh_owner})
                if (*x) sh.action = x->get_name();
            return herd::cli::sharding(common, sh);
        }
        if (*disp) {
            if (common.log_level.empty()) spdlog::set_level(spdlog::level::err);
            for (auto* x : {dp_checks, dp_get, dp_put, dp_del, dp_assign, dp_leader})
                if (*x) dp.action = x->get_name();
            return herd::cli::dispatch(common, dp);
        }
        if (*sink) {
            if (common.log_level.empty()) spdlog::set_level(spdlog::level::warn);
            sink_args.action = *sink_apply ? "apply" : "show";
            return herd::cli::sink(common, sink_args);
        }
        if (*conf) {
            if (!cf.list && cf.plugin.empty()) throw std::invalid_argument("conformance: --plugin is required");
            return herd::cli::conformance(common, cf);
        }
        if (*sd) {
            // Discovery errors are printed by `sd` itself, once, after the groups.
            if (common.log_level.empty()) spdlog::set_level(spdlog::level::err);
            auto t = herd::sdk::parse_duration(sd_timeout);
            if (!t) throw std::invalid_argument("--timeout \"" + sd_timeout + "\" is not a duration");
            return herd::cli::sd(common, config, sd_name, sd_once, *t);
        }
        if (*plugins) {
            // The table says everything; keep the per-file log lines out of it unless asked.
            if (common.log_level.empty()) spdlog::set_level(spdlog::level::off);
            return herd::cli::plugins(common, dir.empty() ? common.default_plugin_dir : dir, json);
        }
        spdlog::set_level(spdlog::level::off);
        if (*probe_load) return herd::cli::probe_load(probe_file);
        if (*probe_create) return herd::cli::probe_create(probe_file, probe_kind, probe_factory, probe_instance, probe_dir,
                                                               probe_config_dir);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        std::cerr << "herd: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

// `herd conformance --plugin X.so [--kind K] [--factory F] [--config JSON|@file]`: runs the
// conformance kit against one plugin factory (see conformance/suite.hpp), for plugin authors and
// for herd's own tests.
#include "cli/commands.hpp"
#include "conformance/suite.hpp"

#include <herd/sdk/duration.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

namespace herd::cli {

namespace {

herd_kind kind_from(const std::string& s) {
    if (s == "kv") return HERD_KIND_KV;
    if (s == "discovery") return HERD_KIND_DISCOVERY;
    if (s == "selector") return HERD_KIND_SELECTOR;
    if (s == "affinity") return HERD_KIND_AFFINITY;
    if (s == "sink") return HERD_KIND_SINK;
    return 0;
}

std::string media_from(const std::string& s) {
    if (s.empty() || s == "scrape-config") return HERD_SINK_SCRAPE_CONFIG;
    if (s == "target-groups") return HERD_SINK_TARGET_GROUPS;
    if (s == "check-config") return HERD_SINK_CHECK_CONFIG;
    return s;
}

}  // namespace

int conformance(const Common& c, const ConformanceArgs& a) {
    const herd_kind kind = kind_from(a.kind);
    if (a.list) {
        if (!kind) {
            std::cerr << "herd conformance --list needs --kind kv|discovery|selector|affinity|sink\n";
            return 2;
        }
        conformance::list_cases(kind, std::cout);
        return 0;
    }
    conformance::Options o;
    o.kind = kind;
    // A bare name is a plugin in the default directory: `--plugin kv_sqlite`.
    o.plugin = a.plugin;
    if (!a.plugin.has_parent_path() && a.plugin.extension() != ".so") o.plugin = c.default_plugin_dir / (a.plugin.string() + ".so");
    o.factory = a.factory;
    o.config_json = a.config.empty() ? "{}" : a.config;
    if (!a.config.empty() && a.config[0] == '@') {
        std::ifstream in(a.config.substr(1), std::ios::binary);
        if (!in) {
            std::cerr << "--config " << a.config << ": cannot read " << a.config.substr(1) << "\n";
            return 2;
        }
        std::ostringstream body;
        body << in.rdbuf();
        o.config_json = body.str();
    }
    o.config_dir = a.config_dir;
    o.media_type = media_from(a.media_type);
    o.require.insert(a.require.begin(), a.require.end());
    o.only = a.only;
    o.stop_command = a.stop_command;
    o.start_command = a.start_command;
    o.json = a.json;
    o.verbose = c.log_level == "debug" || c.log_level == "trace";
    for (auto [text, out] : {std::pair{a.case_timeout, &o.case_timeout}, std::pair{a.wait, &o.wait}}) {
        if (text.empty()) continue;
        auto d = sdk::parse_duration(text);
        if (!d) {
            std::cerr << "\"" << text << "\" is not a duration (e.g. 30s, 2m)\n";
            return 2;
        }
        *out = *d;
    }
    if (!kind && !a.kind.empty()) {
        std::cerr << "--kind " << a.kind << ": one of kv, discovery, selector, affinity, sink\n";
        return 2;
    }
    return conformance::run_suite(o, std::cout, std::cerr);
}

}  // namespace herd::cli

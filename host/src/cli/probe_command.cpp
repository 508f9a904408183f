// The throw-away processes behind plugin isolation. They answer on stdout with one JSON object;
// if the plugin crashes them, the parent sees the signal and reports it.
#include "cli/commands.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/loaded_plugin.hpp"

#include <nlohmann/json.hpp>

#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <iterator>

namespace herd::cli {

namespace {
// A probe must not outlive the herd that started it: a plugin hanging in create would otherwise
// keep an orphaned probe process around forever once herd is killed (found by the hardening tests).
void die_with_parent() {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) std::_Exit(1);  // the parent died before prctl took effect
}
}  // namespace

int probe_load(const std::filesystem::path& file) {
    die_with_parent();
    auto r = plugins::load_plugin(file, metrics::global());
    nlohmann::json out{{"ok", r.plugin != nullptr}};
    if (!r.plugin) out["error"] = r.error;
    std::cout << out.dump() << std::endl;
    return 0;
}

int probe_create(const std::filesystem::path& file, const std::string& kind, const std::string& factory,
                 const std::string& instance, const std::filesystem::path& data_dir,
                 const std::filesystem::path& config_dir) {
    die_with_parent();
    std::string config((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    nlohmann::json out{{"ok", false}};
    auto r = plugins::load_plugin(file, metrics::global());
    if (!r.plugin) {
        out["message"] = r.error;
        std::cout << out.dump() << std::endl;
        return 0;
    }
    const herd_factory* f = nullptr;
    for (const auto* x : r.plugin->factories)
        if (kind == plugins::kind_name(x->kind) && factory == x->name) f = x;
    if (!f) {
        out["message"] = "no " + kind + " factory \"" + factory + "\"";
        std::cout << out.dump() << std::endl;
        return 0;
    }
    plugins::CreateError err;
    auto inst = plugins::Instance::create(r.plugin, f, instance, config, data_dir, config_dir, &err);
    if (inst) {
        inst.reset();  // destroy() must not crash either
        out["ok"] = true;
    } else {
        out["status"] = err.status;
        out["message"] = err.message;
        out["key"] = err.key;
    }
    std::cout << out.dump() << std::endl;
    return 0;
}

}  // namespace herd::cli

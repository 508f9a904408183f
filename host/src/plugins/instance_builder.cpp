#include "plugins/instance_builder.hpp"

namespace herd::plugins {

namespace fs = std::filesystem;

namespace {
// A plugin's message about one of its keys says which key, unless it already does
// ("targets[1]: \"http://b:2\" is not host:port", but not "target: unknown key \"target\"").
std::string naming_key(const std::string& key, const std::string& message) {
    if (key.empty() || message.find(key) != std::string::npos) return message;
    return key + ": " + message;
}
}  // namespace

fs::path InstanceBuilder::data_dir_for(const config::InstanceConfig& ic) const {
    return cfg_.host.data_dir / ic.section / ic.name;
}

std::unique_ptr<plugins::Instance> InstanceBuilder::build(const config::InstanceConfig& ic, config::Diagnostic* error) {
    auto fail = [&](std::string_view key, std::string message) -> std::unique_ptr<plugins::Instance> {
        *error = cfg_.at(ic, key, ic.section + " \"" + ic.name + "\": " + std::move(message));
        return nullptr;
    };
    auto plugin = registry_.find(ic.plugin);
    if (!plugin) return fail("plugin", registry_.why_missing(ic.plugin, cfg_.host.plugin_dirs_text()));
    std::string why;
    const herd_factory* factory = plugin->find(ic.kind, ic.factory, &why);
    if (!factory) return fail(ic.factory.empty() ? "plugin" : "factory", why);

    const fs::path dir = data_dir_for(ic);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return fail("", "cannot create its data directory " + dir.string() + ": " + ec.message());

    const std::string json = ic.settings.dump();
    plugins::CreateError ce;
    if (opts_.isolate && !plugins::probe_create(*plugin, *factory, cfg_.host.create_probe_timeout, ic.name, json, dir, cfg_.base_dir, &ce))
        return fail(ce.key, naming_key(ce.key, ce.message));
    if (!opts_.keep && opts_.isolate) return nullptr;  // the probe created and destroyed it: checked

    auto inst = plugins::Instance::create(plugin, factory, ic.name, json, dir, cfg_.base_dir, &ce);
    if (!inst) return fail(ce.key, naming_key(ce.key, ce.message));
    if (!opts_.keep) return nullptr;
    return inst;
}

}  // namespace herd::plugins

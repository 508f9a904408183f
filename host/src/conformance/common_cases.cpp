// Cases every kind must pass: what create() and destroy() promise in plugin_api.h.
#include "conformance/suite.hpp"

#include <nlohmann/json.hpp>

namespace herd::conformance {

namespace {

void refuses_unknown_key(Context& c) {
    auto config = nlohmann::json::parse(c.options().config_json, nullptr, false);
    c.require(config.is_object(), "--config must be a JSON object (the instance's TOML table)");
    config["herd_conformance_no_such_key"] = true;
    plugins::CreateError error;
    auto inst = c.try_create(config.dump(), &error);
    c.check(inst == nullptr, "create() accepted a configuration with an unknown key: a typo would go unnoticed");
    if (inst) return;
    c.check(error.status == HERD_ERR_INVALID_ARGUMENT,
            "a bad configuration must be INVALID_ARGUMENT, got " + std::string(status_text(error.status)));
    c.check(error.key == "herd_conformance_no_such_key" ||
                error.message.find("herd_conformance_no_such_key") != std::string::npos,
            "the refusal must name the unknown key (set_at or the message), got: " + error.message);
}

void refuses_wrong_types(Context& c) {
    // Every key of the given config with a value of another JSON type: each must be refused or
    // accepted, never crash; a refusal names the key (so herd can point at file:line:col).
    auto config = nlohmann::json::parse(c.options().config_json, nullptr, false);
    c.require(config.is_object(), "--config must be a JSON object (the instance's TOML table)");
    if (config.empty()) c.skip("--config has no key to vary");
    int refused = 0, unnamed = 0;
    std::string example;
    for (const auto& [key, value] : config.items()) {
        auto bad = config;
        bad[key] = value.is_object() || value.is_array() ? nlohmann::json(12345) : nlohmann::json::array({nlohmann::json::object()});
        plugins::CreateError error;
        auto inst = c.try_create(bad.dump(), &error);
        if (inst) continue;
        ++refused;
        if (error.key.rfind(key, 0) != 0 && error.message.find(key) == std::string::npos) {
            ++unnamed;
            if (example.empty()) example = key + " -> " + error.message;
        }
    }
    c.check(unnamed == 0, std::to_string(unnamed) + " of " + std::to_string(refused) +
                              " refusals of a wrongly typed key do not name it, e.g. " + example);
}

void create_starts_nothing(Context& c) {
    const size_t before = thread_count();
    for (int round = 0; round < 3; ++round) {
        auto inst = c.create("conformance-" + std::to_string(round));
        c.check(thread_count() == before, "create() started " + std::to_string(thread_count() - before) +
                                              " thread(s): herd check and reload pre-flights create and destroy "
                                              "instances, so work must wait for start/first use");
    }
    c.check(thread_count() <= before, "destroy() left " + std::to_string(thread_count() - before) + " thread(s) behind");
}

}  // namespace

std::vector<Case> common_cases() {
    return {
        {"create.unknown_key", "create() refuses an unknown configuration key, naming it", refuses_unknown_key},
        {"create.wrong_types", "a key of the wrong JSON type is refused by name (or accepted), never a crash", refuses_wrong_types},
        {"create.starts_nothing", "create() starts no thread; destroy() leaves none (3 rounds)", create_starts_nothing},
    };
}

}  // namespace herd::conformance

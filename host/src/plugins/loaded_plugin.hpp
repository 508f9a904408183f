// A plugin library that passed every check and stays loaded for the rest of the process's life:
// nothing here is ever unloaded while an instance, a function pointer or a thread of it may live.
#pragma once

#include "plugins/host_services.hpp"

#include <herd/plugin_api.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace boost::dll {
class shared_library;
}

namespace herd::plugins {

const char* kind_name(herd_kind k) noexcept;  // "kv", "discovery", "selector", "affinity"

struct LoadedPlugin {
    std::filesystem::path file;
    std::shared_ptr<boost::dll::shared_library> library;  // shared with every instance made from it
    std::unique_ptr<HostServices> services;                // the table given to herd_plugin_entry
    const herd_plugin_descriptor* descriptor = nullptr;
    std::string name, version, description;
    uint16_t abi_major = 0, abi_minor = 0;
    std::vector<const herd_factory*> factories;

    // The factory of this kind and name; an empty name picks the only factory of the kind.
    // Returns nullptr and explains in *why otherwise.
    const herd_factory* find(herd_kind kind, const std::string& factory, std::string* why) const;
    std::string kinds() const;  // "discovery, selector"
};

// Why a file was not loaded, in words a user can act on.
struct Refusal {
    std::filesystem::path file;
    std::string reason;
};

struct LoadResult {
    std::shared_ptr<LoadedPlugin> plugin;  // null when refused
    std::string error;
};

// Loads one file in this process: ELF check, dlopen (RTLD_NOW | RTLD_LOCAL), the entry symbol,
// the ABI version check, and the descriptor's consistency. Never throws.
LoadResult load_plugin(const std::filesystem::path& file, metrics::Registry& registry);

}  // namespace herd::plugins

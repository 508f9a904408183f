// One live plugin instance: made by a factory's create(), freed by its destroy(). Holds its
// library (through LoadedPlugin) so the code cannot go away while the instance exists.
#pragma once

#include "plugins/loaded_plugin.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace herd::plugins {

struct CreateError {
    herd_status status = HERD_OK;
    std::string message;
    std::string key;  // configuration key the plugin blamed, "" if none
};

class Instance {
public:
    ~Instance();
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    // Calls the factory's create(). On failure returns null and fills *error. Never throws.
    static std::unique_ptr<Instance> create(std::shared_ptr<LoadedPlugin> plugin, const herd_factory* factory,
                                            const std::string& instance_name, const std::string& config_json,
                                            const std::filesystem::path& data_dir,
                                            const std::filesystem::path& config_dir, CreateError* error);

    void* handle() const noexcept { return handle_; }
    const herd_factory& factory() const noexcept { return *factory_; }
    const LoadedPlugin& plugin() const noexcept { return *plugin_; }
    const std::string& name() const noexcept { return name_; }

private:
    Instance() = default;
    std::shared_ptr<LoadedPlugin> plugin_;
    const herd_factory* factory_ = nullptr;
    std::unique_ptr<HostServices> services_;
    std::string name_;
    void* handle_ = nullptr;
};

// Runs create() + destroy() in a throw-away child process (`herd __probe-create`), so a plugin
// that crashes or hangs in create is reported instead of taking the host down. Returns false
// with *error filled when the child crashed, hung or the create failed.
bool probe_create(const LoadedPlugin& plugin, const herd_factory& factory, std::chrono::milliseconds timeout,
                  const std::string& instance_name,
                  const std::string& config_json, const std::filesystem::path& data_dir,
                  const std::filesystem::path& config_dir, CreateError* error);

}  // namespace herd::plugins

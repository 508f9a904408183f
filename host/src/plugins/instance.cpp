#include "plugins/instance.hpp"

#include "util/child_process.hpp"

#include <herd/sdk/error.hpp>
#include <nlohmann/json.hpp>

namespace herd::plugins {

namespace {
}  // namespace

std::unique_ptr<Instance> Instance::create(std::shared_ptr<LoadedPlugin> plugin, const herd_factory* factory,
                                           const std::string& instance_name, const std::string& config_json,
                                           const std::filesystem::path& data_dir,
                                           const std::filesystem::path& config_dir, CreateError* error) {
    std::unique_ptr<Instance> inst(new Instance());
    inst->services_ = std::make_unique<HostServices>(plugin->name + "/" + instance_name,
                                                     plugin->services->registry());
    inst->plugin_ = std::move(plugin);
    inst->factory_ = factory;
    inst->name_ = instance_name;

    const std::string dir = data_dir.string();
    const std::string cdir = config_dir.string();
    herd_create_args args{};
    args.header = {sizeof(herd_create_args), HERD_ABI_MAJOR, HERD_ABI_MINOR};
    args.host = inst->services_->api();
    args.instance_name = sdk::to_str(inst->name_);
    args.config_json = sdk::to_str(config_json);
    args.data_dir = sdk::to_str(dir);
    args.config_dir = sdk::to_str(cdir);

    ErrorCapture err;
    void* handle = nullptr;
    herd_status st = factory->create(&args, &handle, err.get());
    if (st != HERD_OK || !handle) {
        if (error) {
            error->status = st == HERD_OK ? HERD_ERR_INTERNAL : st;
            error->message = err.set ? err.message
                                     : std::string("create failed with ") + status_name(error->status) +
                                           " and gave no reason";
            if (st == HERD_OK) error->message = "create reported success but returned no instance";
            error->key = err.key;
        }
        return nullptr;
    }
    inst->handle_ = handle;
    return inst;
}

Instance::~Instance() {
    if (handle_) factory_->destroy(handle_);
}

bool probe_create(const LoadedPlugin& plugin, const herd_factory& factory, std::chrono::milliseconds timeout,
                  const std::string& instance_name,
                  const std::string& config_json, const std::filesystem::path& data_dir,
                  const std::filesystem::path& config_dir, CreateError* error) {
    auto r = util::run_child({util::probe_executable().string(), "__probe-create", plugin.file.string(),
                              kind_name(factory.kind), factory.name, instance_name, data_dir.string(),
                              config_dir.string()},
                             config_json, timeout);
    auto fail = [&](std::string m) {
        if (error) *error = {HERD_ERR_INTERNAL, std::move(m), {}};
        return false;
    };
    if (r.spawn_failed) return true;  // no isolation available; the in-process create will tell
    if (r.timed_out)
        return fail("create did not return within " + std::to_string(timeout.count()) +
                    " ms ([host] create_probe_timeout): the plugin hangs in create");
    if (r.signal) return fail("the plugin crashed in create with " + util::describe_signal(r.signal));
    try {
        auto j = nlohmann::json::parse(r.out);
        if (j.value("ok", false)) return true;
        if (error)
            *error = {j.value("status", HERD_ERR_INTERNAL), j.value("message", std::string("create failed")),
                      j.value("key", std::string())};
        return false;
    } catch (const std::exception&) {
        return fail("the create probe gave no answer (exit " + std::to_string(r.exit_code) + "): " + r.err);
    }
}

}  // namespace herd::plugins

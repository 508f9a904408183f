#include "plugins/loaded_plugin.hpp"

#include "metrics/registry.hpp"

#include <boost/dll/shared_library.hpp>

#include <fstream>
#include <cstddef>
#include <set>

namespace herd::plugins {

namespace fs = std::filesystem;

const char* kind_name(herd_kind k) noexcept {
    switch (k) {
        case HERD_KIND_KV: return "kv";
        case HERD_KIND_DISCOVERY: return "discovery";
        case HERD_KIND_SELECTOR: return "selector";
        case HERD_KIND_AFFINITY: return "affinity";
        case HERD_KIND_SINK: return "sink";
        default: return "unknown";
    }
}

std::string LoadedPlugin::kinds() const {
    std::set<std::string> seen;
    std::string out;
    for (const auto* f : factories)
        if (seen.insert(kind_name(f->kind)).second) out += (out.empty() ? "" : ", ") + std::string(kind_name(f->kind));
    return out;
}

const herd_factory* LoadedPlugin::find(herd_kind kind, const std::string& factory, std::string* why) const {
    std::vector<const herd_factory*> of_kind;
    for (const auto* f : factories)
        if (f->kind == kind) of_kind.push_back(f);
    std::string names;
    for (const auto* f : of_kind) names += (names.empty() ? "" : ", ") + std::string(f->name);
    if (of_kind.empty()) {
        if (why) *why = "plugin \"" + name + "\" provides no " + kind_name(kind) + " (it provides: " + kinds() + ")";
        return nullptr;
    }
    if (factory.empty()) {
        if (of_kind.size() == 1) return of_kind.front();
        if (why) *why = "plugin \"" + name + "\" has several " + kind_name(kind) + " types (" + names + "); choose one";
        return nullptr;
    }
    for (const auto* f : of_kind)
        if (factory == f->name) return f;
    if (why) *why = "plugin \"" + name + "\" has no " + kind_name(kind) + " \"" + factory + "\" (it has: " + names + ")";
    return nullptr;
}

namespace {

std::string version_text(uint16_t major, uint16_t minor) { return std::to_string(major) + "." + std::to_string(minor); }

bool valid_name(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    return true;
}

// Smallest sizes a plugin of this major may report: the sizes as of ABI 1.0. Fields appended
// since must be read only after HERD_HAS_FIELD says the plugin's struct has them.
constexpr uint32_t kMinDescriptor = sizeof(herd_plugin_descriptor);
constexpr uint32_t kMinFactory = offsetof(herd_factory, sink);  // 1.0/1.1 factories end before sink

// The descriptor is the plugin's word; check everything the host will rely on.
std::string check_descriptor(const herd_plugin_descriptor* d) {
    const std::string host = version_text(HERD_ABI_MAJOR, HERD_ABI_MINOR);
    const std::string plugin = version_text(d->header.abi_major, d->header.abi_minor);
    if (d->header.abi_major != HERD_ABI_MAJOR)
        return "built for plugin ABI " + plugin + ", but this herd speaks ABI " + host +
               " and the major version must match: rebuild the plugin against herd_plugin_api " +
               std::to_string(HERD_ABI_MAJOR) + ".x";
    if (d->header.abi_minor > HERD_ABI_MINOR)
        return "built for plugin ABI " + plugin + ", newer than this herd's ABI " + host +
               ": upgrade herd, or rebuild the plugin against an SDK no newer than " + host;
    if (d->header.struct_size < kMinDescriptor)
        return "its descriptor is smaller than ABI " + plugin + " defines (" + std::to_string(d->header.struct_size) +
               " bytes): the plugin is corrupt or was built against a modified header";
    if (!d->name || !valid_name(d->name))
        return "its descriptor has no valid name (letters, digits, '_', '-', '.')";
    if (!d->version || !*d->version) return "its descriptor has no version";
    if (d->factory_count == 0 || !d->factories) return "it provides no factories";
    std::set<std::pair<herd_kind, std::string>> seen;
    for (size_t i = 0; i < d->factory_count; ++i) {
        const herd_factory* f = d->factories[i];
        if (!f) return "factory #" + std::to_string(i) + " is NULL";
        if (f->header.struct_size < kMinFactory || f->header.abi_major != HERD_ABI_MAJOR)
            return "factory #" + std::to_string(i) + " has an incompatible header";
        if (!f->name || !valid_name(f->name)) return "factory #" + std::to_string(i) + " has no valid name";
        if (!f->create || !f->destroy) return std::string("factory \"") + f->name + "\" lacks create or destroy";
        const herd_struct_header* ops = nullptr;
        size_t min_size = 0;
        switch (f->kind) {
            case HERD_KIND_KV: ops = f->kv ? &f->kv->header : nullptr; min_size = sizeof(herd_kv_ops); break;
            case HERD_KIND_DISCOVERY: ops = f->discovery ? &f->discovery->header : nullptr; min_size = sizeof(herd_discovery_ops); break;
            case HERD_KIND_SELECTOR: ops = f->selector ? &f->selector->header : nullptr; min_size = sizeof(herd_selector_ops); break;
            case HERD_KIND_AFFINITY: ops = f->affinity ? &f->affinity->header : nullptr; min_size = sizeof(herd_affinity_ops); break;
            case HERD_KIND_SINK:
                // The sink pointer is a 1.2 field: it exists only when the factory is that large.
                if (!HERD_HAS_FIELD(f, herd_factory, sink))
                    return std::string("factory \"") + f->name + "\" declares kind sink, but its factory table (" +
                           std::to_string(f->header.struct_size) + " bytes) ends before the sink operations of ABI 1.2";
                ops = f->sink ? &f->sink->header : nullptr;
                min_size = sizeof(herd_sink_ops);
                break;
            default:
                return std::string("factory \"") + f->name + "\" declares kind " + std::to_string(f->kind) +
                       ", which this herd (ABI " + host + ") does not know: upgrade herd to run this plugin";
        }
        if (!ops) return std::string("factory \"") + f->name + "\" lacks its " + kind_name(f->kind) + " operations";
        if (ops->abi_major != HERD_ABI_MAJOR || ops->struct_size < min_size)
            return std::string("factory \"") + f->name + "\" has an incompatible operations table";
        if (!seen.emplace(f->kind, f->name).second)
            return std::string("two ") + kind_name(f->kind) + " factories are named \"" + f->name + "\"";
    }
    return {};
}

}  // namespace

LoadResult load_plugin(const fs::path& file, metrics::Registry& registry) {
    LoadResult r;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
        r.error = "not a regular file";
        return r;
    }
    {
        std::ifstream in(file, std::ios::binary);
        char magic[4] = {};
        if (!in.read(magic, 4) || magic[0] != 0x7f || magic[1] != 'E' || magic[2] != 'L' || magic[3] != 'F') {
            r.error = in ? "not a shared object (no ELF header; a text file or a download that went wrong?)"
                         : "not a shared object (cannot read it, or shorter than an ELF header)";
            return r;
        }
    }

    auto lib = std::make_shared<boost::dll::shared_library>();
    try {
        // RTLD_NOW: a missing symbol is an error now, not a crash later.
        // RTLD_LOCAL: two plugins may carry the same internal names.
        lib->load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        r.error = std::string("cannot be loaded: ") + e.what();
        return r;
    }
    if (!lib->has(HERD_PLUGIN_ENTRY_SYMBOL)) {
        r.error = "is a shared object but not a herd plugin: it does not export " HERD_PLUGIN_ENTRY_SYMBOL
                  " (build it with the SDK's HERD_PLUGIN macro and herd_add_plugin)";
        return r;
    }
    auto entry = lib->get<const herd_plugin_descriptor*(const herd_host_api*)>(HERD_PLUGIN_ENTRY_SYMBOL);

    auto p = std::make_shared<LoadedPlugin>();
    p->file = file;
    p->services = std::make_unique<HostServices>(file.stem().string(), registry);
    const herd_plugin_descriptor* d = entry(p->services->api());
    if (!d) {
        r.error = HERD_PLUGIN_ENTRY_SYMBOL " returned no descriptor: the plugin declined to run with this host "
                  "(its log lines above say why)";
        return r;
    }
    if (auto why = check_descriptor(d); !why.empty()) {
        r.error = why;
        return r;
    }
    p->library = std::move(lib);
    p->descriptor = d;
    p->name = d->name;
    p->version = d->version;
    p->description = d->description ? d->description : "";
    p->abi_major = d->header.abi_major;
    p->abi_minor = d->header.abi_minor;
    for (size_t i = 0; i < d->factory_count; ++i) p->factories.push_back(d->factories[i]);
    r.plugin = std::move(p);
    return r;
}

}  // namespace herd::plugins

#include "cli/lookup.hpp"

#include <iostream>

namespace herd::cli {

const config::InstanceConfig* find_instance(const config::Config& cfg, herd_kind kind, const std::string& section,
                                            const std::string& name) {
    if (const auto* ic = cfg.find(kind, name)) return ic;
    std::string have;
    for (const auto& i : cfg.instances)
        if (i.kind == kind) have += (have.empty() ? "" : ", ") + i.name;
    std::cerr << cfg.file << ": no [[" << section << "]] named \"" << name << "\" (defined: " << (have.empty() ? "none" : have)
              << ")\n";
    return nullptr;
}

}  // namespace herd::cli

// Finding the instance a command names, or saying which ones exist.
#pragma once

#include "config/config.hpp"

namespace herd::cli {

// The [[section]] instance called `name`; nullptr after printing which ones the file defines.
const config::InstanceConfig* find_instance(const config::Config& cfg, herd_kind kind, const std::string& section,
                                            const std::string& name);

}  // namespace herd::cli

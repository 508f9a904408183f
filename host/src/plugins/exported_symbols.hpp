// The symbols a shared object exports (its ELF dynamic symbol table, defined and global or weak):
// a herd plugin should export exactly one, herd_plugin_entry. More means it was linked without
// the SDK's version script, and its internals can clash with another plugin's.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace herd::plugins {

// nullopt when the file is not a 64-bit ELF this can read.
std::optional<std::vector<std::string>> exported_symbols(const std::filesystem::path& file);

}  // namespace herd::plugins

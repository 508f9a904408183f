// A directory a sink owns a part of (sink_files: the agent's directory; sink_prometheus: its
// file_sd directory and its record of applied scrape configs): which files it wrote (its manifest), and
// how an exact set of items becomes exactly those files — without touching anyone else's.
#pragma once

#include <herd/sdk/kinds.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace herd::files {

// One file the sink wrote.
struct Owned {
    std::string item;        // the item's name
    std::string media_type;
    uint64_t fingerprint = 0;  // of its content, to skip unchanged items without reading the file
};

// The file an item goes to, relative to the directory: its name, plus an extension by media type
// (.yml scrape configs, .json target groups, .yaml check configs) unless it already ends in one.
std::string file_for(std::string_view item, std::string_view media_type);

class FileSet {
public:
    explicit FileSet(std::filesystem::path dir);
    const std::filesystem::path& dir() const { return dir_; }
    const std::map<std::string, Owned>& owned() const { return owned_; }  // by relative path

    // What changes: files to write (path -> content), files to remove. Throws sdk::SinkRefused
    // when two items would share a file or a name is invalid.
    struct Plan {
        std::map<std::string, std::pair<std::string_view, Owned>> write;
        std::vector<std::string> remove;
        std::map<std::string, Owned> next;  // the manifest afterwards
        bool empty() const { return write.empty() && remove.empty(); }
    };
    Plan plan(std::span<const sdk::SinkItemView> items) const;

    // Carries a plan out: the manifest first lists every file that may exist (so a crash leaves
    // nothing it would not clean up later), then the files change (one sync for all), then the
    // manifest says what is there. Returns the previous contents of what it changed, for undo.
    std::map<std::string, std::optional<std::string>> carry_out(const Plan& p);
    // Puts back what carry_out returned (after the agent refused the new files).
    void undo(const std::map<std::string, std::optional<std::string>>& before,
              std::map<std::string, Owned> previous);

    std::vector<sdk::SinkItem> held() const;

private:
    void save_manifest(const std::map<std::string, Owned>& m) const;
    void remove_stale_temporaries();
    std::filesystem::path dir_;
    bool swept_ = false;  // temporaries a crash left behind are removed before the first change
    std::map<std::string, Owned> owned_;
};

}  // namespace herd::files

// Writing files an agent reads so that it never sees a torn one: write a temporary file beside
// the target, fsync it, rename it over the target, fsync the directory. A crash at any point
// leaves either the old file or the new one (tested with kill -9 in tests of sink_files).
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herd::files {

// Throws sdk::Error(HERD_ERR_UNAVAILABLE) naming the path and the system's reason.
void write_atomic(const std::filesystem::path& target, std::string_view content);
// Removes a file and makes the removal durable; a file that is already gone is fine.
void remove_durable(const std::filesystem::path& target);
// Many files at once with one sync instead of one per file (100 000 items would otherwise cost
// 100 000 fsyncs): every temporary file is written, then the filesystem is synced once, then all
// are renamed into place and each directory synced. Each file is still old or new after a crash.
class AtomicBatch {
public:
    ~AtomicBatch();  // removes temporary files of a batch that was not committed
    void add(const std::filesystem::path& target, std::string_view content);
    void remove(const std::filesystem::path& target);
    // Throws sdk::Error naming the path that failed; what was renamed before stays renamed.
    void commit();
    bool empty() const { return writes_.empty() && removes_.empty(); }

private:
    std::vector<std::pair<std::filesystem::path, std::filesystem::path>> writes_;  // (tmp, target)
    std::vector<std::filesystem::path> removes_;
    std::set<std::filesystem::path> dirs_;
};

// The file's content, or "" with *exists = false when there is none.
std::string read_file(const std::filesystem::path& p, bool* exists = nullptr);

}  // namespace herd::files

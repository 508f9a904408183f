#include "atomic_file.hpp"

#include <herd/sdk/error.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace herd::files {

namespace fs = std::filesystem;

namespace {
[[noreturn]] void fail(const std::string& what, const fs::path& p) {
    throw sdk::Error(HERD_ERR_UNAVAILABLE, what + " " + p.string() + ": " + std::strerror(errno));
}
void fsync_dir(const fs::path& dir) {
    int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("cannot open directory", dir);
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) fail("cannot sync directory", dir);
}
}  // namespace

namespace {
fs::path temp_beside(const fs::path& target) {
    const fs::path dir = target.parent_path();
    std::error_code ec;
    if (!dir.empty()) fs::create_directories(dir, ec);
    thread_local std::mt19937_64 rng{std::random_device{}()};
    // A dot name: agents that glob *.json or *.yml never pick up a half-written temporary file.
    return dir / ("." + target.filename().string() + ".herd-" + std::to_string(rng() % 1000000000) + ".tmp");
}

// Writes content to a new file; syncs it when `sync`.
void write_new(const fs::path& tmp, std::string_view content, bool sync) {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot create", tmp);
    size_t off = 0;
    while (off < content.size()) {
        ssize_t n = ::write(fd, content.data() + off, content.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int saved = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            errno = saved;
            fail("cannot write", tmp);
        }
        off += static_cast<size_t>(n);
    }
    if (sync && ::fsync(fd) != 0) {
        const int saved = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        errno = saved;
        fail("cannot sync", tmp);
    }
    ::close(fd);
}
}  // namespace

void write_atomic(const fs::path& target, std::string_view content) {
    const fs::path tmp = temp_beside(target);
    const fs::path dir = target.parent_path();
    write_new(tmp, content, true);
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
        const int saved = errno;
        ::unlink(tmp.c_str());
        errno = saved;
        fail("cannot rename into place", target);
    }
    fsync_dir(dir);
}

void remove_durable(const fs::path& target) {
    if (::unlink(target.c_str()) != 0) {
        if (errno == ENOENT) return;
        fail("cannot remove", target);
    }
    fsync_dir(target.parent_path());
}

AtomicBatch::~AtomicBatch() {
    for (const auto& [tmp, target] : writes_) ::unlink(tmp.c_str());
}

void AtomicBatch::add(const fs::path& target, std::string_view content) {
    const fs::path tmp = temp_beside(target);
    writes_.emplace_back(tmp, target);
    write_new(tmp, content, false);
    dirs_.insert(target.parent_path());
}

void AtomicBatch::remove(const fs::path& target) {
    removes_.push_back(target);
    dirs_.insert(target.parent_path());
}

void AtomicBatch::commit() {
    if (!writes_.empty()) {
        // One sync of the whole filesystem makes every temporary file durable before any rename.
        int fd = ::open(writes_.front().first.parent_path().empty() ? "." : writes_.front().first.parent_path().c_str(),
                        O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || ::syncfs(fd) != 0) {
            if (fd >= 0) ::close(fd);
            fail("cannot sync the filesystem of", writes_.front().first.parent_path());
        }
        ::close(fd);
    }
    for (size_t i = 0; i < writes_.size(); ++i) {
        const auto& [tmp, target] = writes_[i];
        if (::rename(tmp.c_str(), target.c_str()) != 0) {
            const int saved = errno;
            for (size_t j = i; j < writes_.size(); ++j) ::unlink(writes_[j].first.c_str());
            writes_.clear();
            errno = saved;
            fail("cannot rename into place", target);
        }
    }
    writes_.clear();
    for (const auto& target : removes_)
        if (::unlink(target.c_str()) != 0 && errno != ENOENT) fail("cannot remove", target);
    removes_.clear();
    for (const auto& dir : dirs_) fsync_dir(dir);
    dirs_.clear();
}

std::string read_file(const fs::path& p, bool* exists) {
    std::ifstream in(p, std::ios::binary);
    if (exists) *exists = static_cast<bool>(in);
    if (!in) return {};
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace herd::files

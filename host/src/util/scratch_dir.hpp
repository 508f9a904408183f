// A fresh directory for throw-away work (herd check's and herd sd's data_dir, a conformance
// case's), removed with everything in it when the object goes — on every way out.
#pragma once

#include <filesystem>
#include <string>

namespace herd::util {

class ScratchDir {
public:
    // <$TMPDIR or /tmp>/<prefix>XXXXXX, made with mkdtemp; throws std::runtime_error when it cannot.
    explicit ScratchDir(const std::string& prefix);
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace herd::util

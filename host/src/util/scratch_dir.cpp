#include "util/scratch_dir.hpp"

#include <cstdlib>
#include <stdexcept>

namespace herd::util {

ScratchDir::ScratchDir(const std::string& prefix) {
    std::error_code ec;
    auto base = std::filesystem::temp_directory_path(ec);  // $TMPDIR, else /tmp
    if (ec) base = "/tmp";
    std::string tmpl = (base / (prefix + "XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot make a scratch directory " + tmpl);
    path_ = tmpl;
}

ScratchDir::~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

}  // namespace herd::util

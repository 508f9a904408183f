#include "cli/commands.hpp"
#include "runtime/app.hpp"

namespace herd::cli {

int run(const Common& c, const std::filesystem::path& config) {
    // Before any thread exists, so that only the main thread's sigwait() receives them.
    runtime::block_signals();
    runtime::App app({config, c.default_plugin_dir, c.isolate, c.log_level});
    return app.run();
}

}  // namespace herd::cli

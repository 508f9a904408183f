// `herd sd -c FILE --discovery NAME [--once]`: runs one discovery instance of the configuration
// and prints its target groups as Prometheus file_sd JSON, meta labels included, so relabelling
// can be debugged against what herd really sees (like promtool's discovery check).
// --once prints the first complete answer and exits; otherwise every change is printed.
#include "cli/commands.hpp"
#include "cli/lookup.hpp"
#include "config/config.hpp"
#include "discovery/manager.hpp"
#include "metrics/registry.hpp"
#include "runtime/app.hpp"
#include "runtime/discovery_runner.hpp"
#include "util/scratch_dir.hpp"

#include <csignal>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

namespace herd::cli {

int sd(const Common& c, const std::filesystem::path& file, const std::string& name, bool once,
       std::chrono::milliseconds timeout) {
    runtime::block_signals();  // before any thread: the main thread waits for SIGINT/SIGTERM below
    // A debugging run writes nothing into the real data_dir.
    // Removed on every way out (a bad file, a provider that does not start, --once, Ctrl-C).
    const util::ScratchDir scratch("herd-sd-");
    auto opened = open_instance(c, file, HERD_KIND_DISCOVERY, "discovery", name, scratch.path());
    if (!opened) return 1;
    const auto& cfg = opened->cfg;
    auto inst = std::move(opened->instance);

    discovery::Manager manager(metrics::global());
    std::mutex mu;
    std::condition_variable cv;
    bool changed = false;
    manager.subscribe(name, [&](const std::string&, const std::vector<discovery::TargetGroup>& groups) {
        if (groups.empty()) return;
        std::lock_guard lk(mu);
        changed = true;
        cv.notify_all();
    });
    runtime::DiscoveryRunner runner(std::move(inst), manager);
    if (auto why = runner.start(); !why.empty()) {
        std::cerr << cfg.file << ": discovery \"" << name << "\" did not start: " << why << "\n";
        return 1;
    }
    auto print = [&] {
        std::cout << discovery::to_file_sd_json(manager.groups(name)) << std::endl;
        if (auto st = manager.status(name); st && st->state == discovery::ProviderStatus::State::failing)
            std::cerr << "discovery \"" << name << "\": " << st->last_error << " (the groups above are the last good ones)\n";
    };

    if (once) {
        // The first answer: groups, or a refresh that found nothing, or an error.
        std::unique_lock lk(mu);
        cv.wait_for(lk, timeout, [&] {
            auto st = manager.status(name);
            return changed || (st && st->state != discovery::ProviderStatus::State::starting);
        });
        lk.unlock();
        manager.flush();
        print();
        auto st = manager.status(name);
        // Nothing good to show and an error to tell: a failure. Last good groups with an error: shown, 0.
        const int rc = st && st->state == discovery::ProviderStatus::State::failing && manager.groups(name).empty() ? 1 : 0;
        runner.stop();
        return rc;
    }
    // Follow: print on every change until SIGINT/SIGTERM.
    std::thread waiter([&] {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        int sig = 0;
        sigwait(&set, &sig);
        std::lock_guard lk(mu);
        changed = true;
        once = true;  // reused as "stop"
        cv.notify_all();
    });
    for (;;) {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return changed; });
        changed = false;
        if (once) break;
        lk.unlock();
        manager.flush();
        print();
    }
    waiter.join();
    runner.stop();
    return 0;
}

}  // namespace herd::cli

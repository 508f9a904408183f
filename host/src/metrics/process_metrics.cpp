#include "metrics/process_metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/resource.h>

namespace herd::metrics {

namespace {
double boot_time_seconds() {
    std::ifstream in("/proc/stat");
    std::string key;
    while (in >> key) {
        if (key == "btime") {
            double t = 0;
            in >> t;
            return t;
        }
        in.ignore(1 << 20, '\n');
    }
    return 0;
}

int count_fds() {
    int n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
        --n;  // the directory handle itself
    }
    return n;
}
}  // namespace

void register_process_metrics(Registry& r) {
    auto& cpu = r.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.").with({});
    auto& rss = r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.").with({});
    auto& vms = r.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").with({});
    auto& fds = r.gauge("process_open_fds", "Number of open file descriptors.").with({});
    auto& maxfds = r.gauge("process_max_fds", "Maximum number of open file descriptors.").with({});
    auto& start = r.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.").with({});
    auto& threads = r.gauge("process_threads", "Number of OS threads in the process.").with({});

    // /proc/self/stat field 22 is the start time in clock ticks after boot.
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    const double btime = boot_time_seconds();

    r.on_collect([&, ticks, page, btime] {
        std::ifstream in("/proc/self/stat");
        std::string line;
        std::getline(in, line);
        auto close = line.rfind(')');
        if (close == std::string::npos) return;
        std::istringstream rest(line.substr(close + 2));
        std::string f[50];
        for (int i = 3; i <= 24 && rest >> f[i]; ++i) {
        }
        // Fields (1-based): 14 utime, 15 stime, 20 num_threads, 22 starttime, 23 vsize, 24 rss.
        cpu.set((std::stod(f[14]) + std::stod(f[15])) / ticks);
        threads.set(std::stod(f[20]));
        start.set(btime + std::stod(f[22]) / ticks);
        vms.set(std::stod(f[23]));
        rss.set(std::stod(f[24]) * page);
        fds.set(count_fds());
        rlimit rl{};
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) maxfds.set(static_cast<double>(rl.rlim_cur));
    });
}

}  // namespace herd::metrics

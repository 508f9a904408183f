// sd_file — herd's embedded discovery provider.
// Sources: a static `targets` list, an mpp-style `endpoints_file`, and Prometheus file_sd `files`
// (globs). Files are watched with inotify and also re-read every refresh_interval (changes on
// filesystems inotify cannot see, such as some network mounts, are still found). A file that
// cannot be read or parsed keeps its last good groups; the error goes to the host's log,
// herd_sd_file_read_errors_total and /status.
#include "file_sd_parser.hpp"
#include "sd_file_config.hpp"

#include <herd/sdk/plugin.hpp>

#include <glob.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace herd::sd_file {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot read: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> expand(const std::string& pattern) {
    glob_t g{};
    std::vector<std::string> out;
    if (::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    return out;
}

class SdFile final : public sdk::Discovery {
public:
    explicit SdFile(const sdk::CreateContext& ctx)
        : host_(ctx.host), name_(ctx.instance_name), cfg_(parse_config(ctx.config_json, ctx.config_dir)) {
        read_errors_ = host_.counter("herd_sd_file_read_errors_total",
                                     "Files an sd_file instance could not read or parse.", {"discovery"})
                           .with({name_});
        files_ = host_.gauge("herd_sd_file_files", "Files an sd_file instance currently reads.", {"discovery"})
                     .with({name_});
    }

    ~SdFile() override { stop(); }

    void start(sdk::DiscoverySink sink) override {
        sink_ = sink;
        inotify_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake_ < 0) throw sdk::Error(HERD_ERR_INTERNAL, std::string("eventfd: ") + std::strerror(errno));
        if (inotify_ < 0)
            host_.warn(std::string("inotify unavailable (") + std::strerror(errno) + "); re-reading files every refresh_interval only");
        refresh();  // the first groups are there before start() returns
        thread_ = std::thread([this] { loop(); });
    }

    void stop() noexcept override {
        if (!thread_.joinable()) return;
        uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
        thread_.join();
        if (inotify_ >= 0) ::close(inotify_);
        ::close(wake_);
        inotify_ = wake_ = -1;
    }

private:
    // Watches the directories of every source, so creation, rename-into-place and deletion are
    // seen as well as writes. For a directory that does not exist yet, its nearest existing
    // ancestor is watched for the one name that leads to it, so its creation is seen at once.
    void watch_dirs() {
        if (inotify_ < 0) return;
        std::set<fs::path> dirs;
        if (!cfg_.endpoints_file.empty()) dirs.insert(fs::path(cfg_.endpoints_file).parent_path());
        for (const auto& f : cfg_.files) dirs.insert(fs::path(f).parent_path());
        for (const auto& d : dirs) {
            fs::path target = d, child;
            std::error_code ec;
            while (!fs::is_directory(target, ec) && target.has_parent_path() && target != target.parent_path()) {
                child = target.filename();
                target = target.parent_path();
            }
            add_watch(target, child.string());
        }
    }

    // One inotify descriptor per directory (inotify merges them); masks are unioned.
    void add_watch(const fs::path& dir, const std::string& only_name) {
        const uint32_t mask = only_name.empty() ? IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                                      IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
                                                : IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
        int wd = inotify_add_watch(inotify_, dir.c_str(), mask | IN_MASK_ADD);
        if (wd < 0) return;
        auto& w = watches_[wd];
        if (only_name.empty())
            w.all = true;
        else
            w.names.insert(only_name);
    }

    void loop() {
        auto next = std::chrono::steady_clock::now() + cfg_.refresh_interval;
        for (;;) {
            auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
            pollfd fds[2] = {{wake_, POLLIN, 0}, {inotify_, POLLIN, 0}};
            int n = ::poll(fds, inotify_ >= 0 ? 2 : 1, static_cast<int>(std::max<int64_t>(0, wait.count())));
            if (n < 0 && errno == EINTR) continue;
            if (fds[0].revents & POLLIN) return;
            if (n > 0 && (fds[1].revents & POLLIN)) {
                // Let a burst of events (write + close, or a rename dance) settle, then read once.
                bool relevant = false;
                do {
                    relevant = drain_inotify() || relevant;
                } while (::poll(&fds[1], 1, 20) > 0 && !(fds[1].revents & (POLLERR | POLLNVAL)));
                if (relevant) refresh();
                continue;
            }
            if (std::chrono::steady_clock::now() >= next) {
                refresh();
                next = std::chrono::steady_clock::now() + cfg_.refresh_interval;
            }
        }
    }

    // Reads pending events; true when one of them may change what the sources hold.
    bool drain_inotify() {
        alignas(inotify_event) char buf[8192];
        bool relevant = false;
        for (;;) {
            ssize_t got = ::read(inotify_, buf, sizeof buf);
            if (got <= 0) return relevant;
            for (char* p = buf; p < buf + got;) {
                auto* ev = reinterpret_cast<inotify_event*>(p);
                p += sizeof(inotify_event) + ev->len;
                auto it = watches_.find(ev->wd);
                if (it == watches_.end()) continue;
                if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                    watches_.erase(it);  // the directory went away; watched again from its ancestor
                    relevant = true;
                    continue;
                }
                if (it->second.all || (ev->len && it->second.names.count(ev->name))) relevant = true;
            }
        }
    }

    // Reads every source and sends the complete set of groups (the host drops unchanged ones),
    // plus an empty group for each source that vanished since the last refresh.
    void refresh() {
        watch_dirs();
        std::vector<std::string> errors;
        std::map<std::string, json> groups;  // source -> group

        if (!cfg_.targets.empty()) {
            auto g = static_group(cfg_.targets, cfg_.labels);
            groups[g["source"]] = g;
        }
        if (!cfg_.endpoints_file.empty()) {
            const auto& path = cfg_.endpoints_file;
            try {
                last_good_[path] = json::array({parse_endpoints_file(path, read_file(path), cfg_.labels)});
            } catch (const std::exception& e) {
                errors.push_back(e.what());
            }
        }
        std::set<std::string> matched;
        if (!cfg_.endpoints_file.empty()) matched.insert(cfg_.endpoints_file);
        for (const auto& pattern : cfg_.files) {
            for (const auto& path : expand(pattern)) {
                if (!matched.insert(path).second) continue;
                try {
                    last_good_[path] = parse_file_sd(path, read_file(path), cfg_.names);
                } catch (const std::exception& e) {
                    errors.push_back(e.what());
                }
            }
        }
        // A file_sd file that no longer matches (deleted, renamed away) takes its groups with it.
        for (auto it = last_good_.begin(); it != last_good_.end();)
            it = matched.count(it->first) ? std::next(it) : last_good_.erase(it);
        for (const auto& [_, list] : last_good_)
            for (const auto& g : list) groups[g["source"]] = g;

        json out = json::array();
        std::set<std::string> sources;
        for (auto& [source, g] : groups) {
            sources.insert(source);
            out.push_back(std::move(g));
        }
        for (const auto& s : sent_sources_)
            if (!sources.count(s)) out.push_back({{"source", s}, {"targets", json::array()}});
        sent_sources_ = std::move(sources);
        files_.set(static_cast<double>(matched.size()));

        sink_.update(out.dump());
        if (!errors.empty()) {
            read_errors_.add(static_cast<double>(errors.size()));
            std::string all;
            for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
            sink_.error(all);
        }
    }

    sdk::Host host_;
    std::string name_;
    Config cfg_;
    sdk::DiscoverySink sink_;
    sdk::Series read_errors_, files_;
    int inotify_ = -1, wake_ = -1;
    struct Watch {
        bool all = false;             // a source directory: every event counts
        std::set<std::string> names;  // an ancestor: only these entries (the way to a missing directory)
    };
    std::map<int, Watch> watches_;
    std::map<std::string, json> last_good_;  // file -> its groups (a JSON array)
    std::set<std::string> sent_sources_;
    std::thread thread_;
};

}  // namespace
}  // namespace herd::sd_file

HERD_PLUGIN("sd_file", "0.1.0", "Targets from a static list, an endpoints file, or Prometheus file_sd files",
            herd::sdk::factory<herd::sd_file::SdFile>(
                "sd_file", "static targets, mpp endpoints files and file_sd JSON/YAML, re-read on change"))

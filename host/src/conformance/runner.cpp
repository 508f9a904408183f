// Runs the cases, each in a child process of its own: a plugin that crashes or hangs in one case
// costs that case, and every case starts from a clean process (no threads, no state left behind by
// the one before). The child reports its verdicts through a pipe, one JSON line each.
#include "conformance/suite.hpp"

#include "metrics/registry.hpp"
#include "plugins/plugin_registry.hpp"
#include "util/child_process.hpp"
#include "util/scratch_dir.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <iomanip>

namespace herd::conformance {

namespace {

struct Verdict {
    std::string id, title, result;  // "pass", "fail", "skip"
    std::vector<std::string> failures, notes;
    std::string skipped;
    long long ms = 0;
};

// In the child: run one case, report, exit without unwinding the parent's state.
[[noreturn]] void run_in_child(const Case& c, const Options& o, const std::shared_ptr<plugins::LoadedPlugin>& plugin,
                               const herd_factory* factory, const std::filesystem::path& dir, int fd) {
    Context ctx(o, plugin, factory, dir);
    ctx.report_fd = fd;
    try {
        c.run(ctx);
    } catch (const CaseEnded&) {
    } catch (const std::exception& e) {
        ctx.check(false, std::string("the case ended with an exception: ") + e.what());
    } catch (...) {
        ctx.check(false, "the case ended with an exception of unknown type");
    }
    ::close(fd);
    std::_Exit(0);
}

Verdict run_one(const Case& c, const Options& o, const std::shared_ptr<plugins::LoadedPlugin>& plugin,
                const herd_factory* factory) {
    Verdict v{c.id, c.title, "pass", {}, {}, {}, 0};
    const util::ScratchDir scratch("herd-conformance-" + std::string(c.id) + "-");
    const auto& dir = scratch.path();
    int fds[2];
    // Close-on-exec: a server the case starts (--start-command) must not inherit the report pipe,
    // or the pipe would never reach EOF and the case would look hung.
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe() failed");
    const auto t0 = std::chrono::steady_clock::now();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork() failed");
    if (pid == 0) {
        ::close(fds[0]);
        run_in_child(c, o, plugin, factory, dir, fds[1]);
    }
    ::close(fds[1]);
    std::string buffer;
    bool hung = false;
    const auto deadline = t0 + o.case_timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            hung = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        char chunk[4096];
        const auto n = ::read(fds[0], chunk, sizeof chunk);
        if (n <= 0) break;
        buffer.append(chunk, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    if (hung) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    v.ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();

    size_t start = 0;
    for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
        auto line = nlohmann::json::parse(buffer.substr(start, nl - start), nullptr, false);
        if (!line.is_object()) continue;
        const std::string t = line.value("t", ""), m = line.value("m", "");
        if (t == "F") v.failures.push_back(m);
        else if (t == "N") v.notes.push_back(m);
        else if (t == "S") v.skipped = m;
    }
    if (hung)
        v.failures.push_back("hung: no verdict within " + std::to_string(o.case_timeout.count() / 1000) +
                             " s (--case-timeout); the child was killed");
    else if (WIFSIGNALED(status))
        v.failures.push_back("crashed: " + util::describe_signal(WTERMSIG(status)));
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        v.failures.push_back("the plugin ended the process with exit code " + std::to_string(WEXITSTATUS(status)));
    v.result = !v.failures.empty() ? "fail" : !v.skipped.empty() ? "skip" : "pass";
    return v;
}

}  // namespace

void list_cases(herd_kind kind, std::ostream& out) {
    for (const auto& c : cases_for(kind)) out << std::left << std::setw(28) << c.id << c.title << "\n";
}

int run_suite(const Options& given, std::ostream& out, std::ostream& err) {
    Options o = given;
    spdlog::set_level(o.verbose ? spdlog::level::debug : spdlog::level::warn);
    plugins::PluginRegistry registry(metrics::global(), true);  // a plugin that crashes on load is refused, not fatal
    auto loaded = registry.load(o.plugin);
    if (!loaded.plugin) {
        err << o.plugin.string() << ": not loaded: " << loaded.refusal << "\n";
        return 2;
    }
    if (o.kind == 0) {  // the plugin's only kind (of the named factory, if one is named)
        std::set<herd_kind> kinds;
        for (const auto* f : loaded.plugin->factories)
            if (o.factory.empty() || o.factory == f->name) kinds.insert(f->kind);
        if (kinds.size() != 1) {
            err << o.plugin.string() << ": provides " << loaded.plugin->kinds() << ": say which with --kind\n";
            return 2;
        }
        o.kind = *kinds.begin();
    }
    std::string why;
    const herd_factory* factory = loaded.plugin->find(o.kind, o.factory, &why);
    if (!factory) {
        err << o.plugin.string() << ": " << why << "\n";
        return 2;
    }
    std::vector<Case> selected;
    for (const auto& c : cases_for(o.kind))
        if (o.only.empty() || ::fnmatch(o.only.c_str(), c.id, 0) == 0) selected.push_back(c);
    if (selected.empty()) {
        err << "no case matches \"" << o.only << "\" (herd conformance --kind " << plugins::kind_name(o.kind)
            << " --list shows them)\n";
        return 2;
    }

    const auto& p = *loaded.plugin;
    if (!o.json)
        out << "herd conformance: plugin " << p.name << " " << p.version << " (ABI " << p.abi_major << "."
            << p.abi_minor << ", " << o.plugin.filename().string() << "), factory \"" << factory->name << "\" ("
            << plugins::kind_name(o.kind) << "), " << selected.size() << " cases\n"
            << std::flush;
    std::vector<Verdict> verdicts;
    int passed = 0, failed = 0, skipped = 0;
    for (const auto& c : selected) {
        auto v = run_one(c, o, loaded.plugin, factory);
        (v.result == "pass" ? passed : v.result == "fail" ? failed : skipped)++;
        if (!o.json) {
            std::string label = v.result == "pass" ? "PASS" : v.result == "fail" ? "FAIL" : "SKIP";
            out << label << "  " << std::left << std::setw(26) << v.id << v.title << "  (" << v.ms << " ms)\n";
            for (const auto& f : v.failures) out << "        - " << f << "\n";
            if (!v.skipped.empty()) out << "        skipped: " << v.skipped << "\n";
            for (const auto& n : v.notes) out << "        note: " << n << "\n";
            out << std::flush;
        }
        verdicts.push_back(std::move(v));
    }
    if (o.json) {
        nlohmann::json j{{"plugin", p.name},
                         {"version", p.version},
                         {"file", o.plugin.string()},
                         {"factory", factory->name},
                         {"kind", plugins::kind_name(o.kind)},
                         {"passed", passed},
                         {"failed", failed},
                         {"skipped", skipped},
                         {"cases", nlohmann::json::array()}};
        for (const auto& v : verdicts)
            j["cases"].push_back({{"id", v.id}, {"title", v.title}, {"result", v.result}, {"ms", v.ms},
                                  {"failures", v.failures}, {"notes", v.notes}, {"skipped", v.skipped}});
        out << j.dump(2) << "\n";
    } else {
        out << selected.size() << " cases: " << passed << " passed, " << failed << " failed, " << skipped << " skipped\n";
    }
    return failed ? 1 : 0;
}

}  // namespace herd::conformance

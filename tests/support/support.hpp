// Helpers for herd's tests: temporary directories, free ports, a blocking HTTP client,
// child processes that are always stopped, and waiting for a condition with a deadline.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace herd::test {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    const fs::path& path() const { return path_; }
    fs::path operator/(const std::string& p) const { return path_ / p; }

private:
    fs::path path_;
};

void write_file(const fs::path& p, const std::string& content);
// Writes to a temporary name and renames into place, as config management tools do.
void write_file_atomic(const fs::path& p, const std::string& content);
std::string read_file(const fs::path& p);

// A TCP port on 127.0.0.1 nobody listens on right now.
uint16_t free_port();

struct HttpResponse {
    int status = 0;  // 0 when the connection failed
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
};
HttpResponse http_get(uint16_t port, const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Polls `ready` every few milliseconds until it holds or the deadline passes. Returns whether it
// held. This waits for an event the test cannot be called back for (a file was re-read, a
// server came up); it never stands in for a fixed sleep.
bool eventually(const std::function<bool()>& ready, std::chrono::milliseconds deadline = std::chrono::seconds(20));

// A child process with stdout and stderr captured to files; killed (SIGKILL) on destruction if
// it is still running.
class Process {
public:
    Process(std::vector<std::string> argv, const fs::path& log_dir, const std::string& name = "proc");
    ~Process();
    Process(const Process&) = delete;

    int pid() const { return pid_; }
    void signal(int sig) const;
    // Exit status once the process ended within timeout: the exit code, or 128 + signal.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    bool running();
    std::string out() const;
    std::string err() const;

private:
    int pid_ = -1;
    std::optional<int> status_;
    fs::path out_, err_;
};

// Runs a command to completion (bounded) and returns exit code + output.
struct RunResult {
    int code = -1;
    std::string out, err;
};
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Paths of the build under test, passed in by CMake.
fs::path herd_binary();
fs::path plugin_dir();
fs::path fixture_dir();
fs::path source_dir();
fs::path build_dir();

// Value of a metric series in Prometheus text format, e.g. metric(text, "herd_ready") or
// metric(text, "herd_discovery_targets{discovery=\"a\"}").
std::optional<double> metric(const std::string& exposition, const std::string& series);

}  // namespace herd::test

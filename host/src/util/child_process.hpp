// Runs a child process with a bounded run time and captures its output. herd uses it to try a
// plugin in a throw-away process first, so a plugin that crashes takes down only that child.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace herd::util {

struct ChildResult {
    int exit_code = -1;  // valid when signal == 0 and !timed_out
    int signal = 0;      // the signal that ended the child, if any
    bool timed_out = false;
    bool spawn_failed = false;
    std::string out;
    std::string err;
};

ChildResult run_child(const std::vector<std::string>& argv, const std::string& input,
                      std::chrono::milliseconds timeout);

// "SIGSEGV (Segmentation fault)"
std::string describe_signal(int sig);

// The running executable (/proc/self/exe resolved).
std::filesystem::path self_executable();

// The herd binary that runs `__probe-*` children: this executable unless set (tests set it,
// since their own executable is not herd).
std::filesystem::path probe_executable();
void set_probe_executable(std::filesystem::path p);

}  // namespace herd::util

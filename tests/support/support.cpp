#include "support.hpp"

#include "http_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace herd::test {

TempDir::TempDir() {
    std::random_device rd;
    for (int i = 0; i < 100; ++i) {
        auto p = fs::temp_directory_path() / ("herd-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
        std::error_code ec;
        if (fs::create_directory(p, ec)) {
            path_ = p;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

void write_file(const fs::path& p, const std::string& content) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + p.string());
}

void write_file_atomic(const fs::path& p, const std::string& content) {
    auto tmp = p.parent_path() / ("." + p.filename().string() + ".tmp");
    write_file(tmp, content);
    fs::rename(tmp, p);
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

uint16_t free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

HttpResponse http_get(uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
    HttpConnection c(port, timeout);
    return c.get(path, {{"Connection", "close"}});
}

bool eventually(const std::function<bool()>& ready, std::chrono::milliseconds deadline) {
    auto end = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        if (ready()) return true;
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

Process::Process(std::vector<std::string> argv, const fs::path& log_dir, const std::string& name)
    : out_(log_dir / (name + ".out")), err_(log_dir / (name + ".err")) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

Process::~Process() {
    if (running()) {
        kill(pid_, SIGKILL);
        wait(std::chrono::seconds(10));
    }
}

void Process::signal(int sig) const { kill(pid_, sig); }

bool Process::running() {
    if (status_) return false;
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return false;
    }
    return r == 0;
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
    eventually([&] { return !running(); }, timeout);
    return status_;
}

std::string Process::out() const { return read_file(out_); }
std::string Process::err() const { return read_file(err_); }

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    TempDir logs;
    RunResult r;
    {
        Process p(argv, logs.path(), "run");
        auto code = p.wait(timeout);
        r.code = code ? *code : -1;
        r.out = p.out();
        r.err = p.err();
    }
    return r;
}

fs::path herd_binary() { return HERD_TEST_BINARY; }
fs::path plugin_dir() { return HERD_TEST_PLUGIN_DIR; }
fs::path fixture_dir() { return HERD_TEST_FIXTURE_DIR; }
fs::path source_dir() { return HERD_TEST_SOURCE_DIR; }
fs::path build_dir() { return HERD_TEST_BUILD_DIR; }

std::optional<double> metric(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(series, 0) != 0) continue;
        auto rest = line.substr(series.size());
        if (rest.empty() || rest[0] != ' ') continue;  // a longer name or more labels
        return std::stod(rest.substr(1));
    }
    return std::nullopt;
}

}  // namespace herd::test

// One election candidate as its own process, for the election tests: prints "leader" and
// "follower" lines on every transition, runs until killed (SIGKILL in the tests) or SIGTERM.
//   election_candidate <plugin dir> <plugin> <config json> <key> <id> <ttl ms>
#include "kv/election.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance.hpp"
#include "plugins/plugin_registry.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>

int main(int argc, char** argv) {
    using namespace herd;
    if (argc != 7) return 2;
    spdlog::set_default_logger(spdlog::stderr_color_mt("candidate"));  // stdout carries the transitions
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    plugins::PluginRegistry registry(metrics::global(), false);
    auto loaded = registry.load(std::filesystem::path(argv[1]) / (std::string(argv[2]) + ".so"));
    if (!loaded.plugin) return 1;
    plugins::CreateError err;
    auto inst = plugins::Instance::create(loaded.plugin, loaded.plugin->factories.at(0), "election", argv[3], "/tmp", "/tmp", &err);
    if (!inst) {
        std::fprintf(stderr, "%s\n", err.message.c_str());
        return 1;
    }
    kv::KvClient client(*inst);
    kv::Election e(client, argv[4], argv[5], std::chrono::milliseconds(std::stoi(argv[6])));
    e.start([](bool leader) {
        std::printf("%s\n", leader ? "leader" : "follower");
        std::fflush(stdout);
    });
    int sig = 0;
    sigwait(&set, &sig);
    e.resign();
    return 0;
}

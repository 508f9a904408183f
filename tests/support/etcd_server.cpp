#include "etcd_server.hpp"

#include <csignal>
#include <stdexcept>

namespace herd::test {

EtcdServer::EtcdServer() : client_(free_port()), peer_(free_port()) { start(); }

EtcdServer::~EtcdServer() = default;  // Process kills what still runs

void EtcdServer::start() {
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_);
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/etcd", "--name", "herd-test", "--data-dir", (dir_ / "data").string(),
                                 "--listen-client-urls", url(), "--advertise-client-urls", url(), "--listen-peer-urls", peer,
                                 "--initial-advertise-peer-urls", peer, "--initial-cluster", "herd-test=" + peer},
        dir_.path(), "etcd");
    if (!eventually([&] { return http_get(client_, "/health").body.find("true") != std::string::npos; }, std::chrono::seconds(30)))
        throw std::runtime_error("etcd did not become healthy: " + proc_->err());
}

void EtcdServer::stop() {
    proc_->signal(SIGTERM);
    proc_->wait(std::chrono::seconds(20));
}

std::string EtcdServer::config(const std::string& extra) const {
    return R"({"endpoints": [")" + url() + R"("], "prefix": "herd-test/", "timeout": "2s")" + extra + "}";
}

}  // namespace herd::test

// A real etcd (Debian's etcd-server) on free loopback ports in a temp dir, stopped on destruction;
// stop() and start() restart it on the same ports with the same data, as an operator would.
#pragma once

#include "support.hpp"

#include <memory>
#include <string>

namespace herd::test {

class EtcdServer {
public:
    EtcdServer();
    ~EtcdServer();
    void start();  // returns once /health says true
    void stop();   // SIGTERM, and waits
    std::string url() const { return "http://127.0.0.1:" + std::to_string(client_); }
    uint16_t port() const { return client_; }
    // kv_etcd's configuration for this server: endpoints, a test prefix, a short timeout.
    std::string config(const std::string& extra = "") const;

private:
    TempDir dir_;
    uint16_t client_, peer_;
    std::unique_ptr<Process> proc_;
};

}  // namespace herd::test

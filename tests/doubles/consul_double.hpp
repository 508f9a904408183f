// A Consul agent as far as herd's kv_consul sees it: the KV store, blocking queries, sessions,
// ACL tokens and datacenters, answering byte for byte as ../shared/reference/consul-kv-api.md and
// Consul's state store have it (one raft index for every write; KV tombstones so a prefix's
// index does not go backwards on delete, until they are reaped; a missing key is a 404 that still
// carries X-Consul-Index; PUT ?cas=0 creates only; cas with acquire/release is a 400; values over
// the limit are a 413; sessions die 2 x TTL after their last renewal, as Consul's do).
// Consul itself is not packaged for Debian; consul_double_test.cpp checks the double against
// those rules.
#pragma once

#include "http_double.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace herd::test {

class ConsulDouble {
public:
    struct Options {
        std::string datacenter = "dc1";
        std::string token;                  // when set, every request must carry it (ACLs enabled)
        size_t max_value = 512 * 1024;      // kv_max_value_size
        double ttl_multiplier = 2.0;        // Consul invalidates a session 2 x TTL after its last renewal
        std::chrono::milliseconds min_ttl = std::chrono::seconds(10);
    };
    ConsulDouble();
    explicit ConsulDouble(Options o);
    ~ConsulDouble();

    std::string address() const { return server_->url(); }
    uint16_t port() const { return server_->port(); }
    HttpDouble& server() { return *server_; }

    void stop() { server_->stop(); }    // a restart keeps the data (Consul servers persist raft)
    void start() { server_->start(); }
    void reap_tombstones();              // Consul's tombstone GC: a prefix's index may go backwards
    uint64_t index() const;              // the raft index of the last write
    size_t sessions() const;
    size_t blocking_queries() const;     // KV reads with ?index > 0 so far

private:
    struct State;
    void handle(const DoubleRequest& req, DoubleReply& reply);
    std::unique_ptr<State> state_;
    std::unique_ptr<HttpDouble> server_;  // last: it stops before the state goes
};

}  // namespace herd::test

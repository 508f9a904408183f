// TLS for tests: a throw-away PKI made by openssl, and a real TLS terminator (Debian's nginx) in
// front of a plain-HTTP server, for testing clients' TLS against servers that have no TLS of their
// own here (the protocol doubles).
#pragma once

#include "support.hpp"

#include <memory>
#include <string>

namespace herd::test {

// In dir: ca.crt/ca.key, server.crt/.key and client.crt/.key signed by that CA (both valid for
// IP 127.0.0.1), and other.crt, an unrelated CA. Throws when openssl fails.
void make_pki(const fs::path& dir);
// Re-signs dir's <who>.crt ("server" or "client") so that it has expired (valid until the moment
// it was made); returns once openssl agrees it is expired.
void expire_certificate(const fs::path& dir, const std::string& who);

// nginx on a free port terminating TLS with dir's server.crt, demanding a client certificate
// signed by dir's ca.crt, proxying to 127.0.0.1:upstream_port. Stopped on destruction.
class TlsTerminator {
public:
    TlsTerminator(const fs::path& pki_dir, uint16_t upstream_port);
    ~TlsTerminator();
    uint16_t port() const { return port_; }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

private:
    TempDir dir_;
    uint16_t port_;
    std::unique_ptr<Process> nginx_;
};

}  // namespace herd::test

// Raw-socket HTTP for tests that must send or answer what no well-behaved client or server
// would: hostile request heads, smuggling attempts, interim answers, bytes after an answer.
#pragma once

#include "support.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace herd::test {

// One client connection that sends bytes as given and reads answers byte-exactly.
class RawConnection {
public:
    explicit RawConnection(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5));
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    bool connected() const { return fd_ >= 0; }
    bool send(const std::string& bytes);
    // One whole answer (head + body by Content-Length or chunked; to the close otherwise), with
    // any interim (1xx) answers before it left in `interim` (their status lines). status 0 = none came.
    struct Answer {
        int status = 0;
        std::string head;  // the final answer's head, as sent
        std::string body;
        std::vector<std::string> interim;
    };
    Answer read_answer(bool head_request = false);
    // True when the server closed the connection (read returned 0 or reset) within the timeout,
    // after whatever it still sent (returned in *rest).
    bool closed_by_peer(std::string* rest = nullptr);
    void close();
    int fd() const { return fd_; }

private:
    bool fill();
    int fd_ = -1;
    std::string buffer_;
};

// Sends `bytes` on a fresh connection, then reads one answer and whether the server closed after it.
struct RawResult {
    RawConnection::Answer answer;
    bool closed = false;
};
RawResult raw_exchange(uint16_t port, const std::string& bytes);

// A backend on loopback that keeps connections alive and answers each request with the raw bytes
// its script returns — or holds it unanswered. A thread per connection.
class ScriptedBackend {
public:
    struct Request {
        std::string method, target, head, body;
        int connection = 0;  // which accepted connection (1, 2, ...)
    };
    struct Reply {
        Reply() = default;
        Reply(std::string b, bool c = false, bool h = false, std::string l = {})
            : bytes(std::move(b)), close(c), hold(h), later(std::move(l)) {}
        std::string bytes;         // sent as is
        bool close = false;        // close the connection after sending
        bool hold = false;         // send nothing; wait until the peer closes or release() is called
        std::string later;         // sent ~50 ms after `bytes`, on the idle connection
    };
    // Called for every request, the probes included; an empty Reply{} means the usual answer
    // (probes(): /-/ready and /metrics, else 404).
    using Script = std::function<Reply(const Request&)>;

    explicit ScriptedBackend(Script script);
    ~ScriptedBackend();
    uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

    int connections() const { return connections_; }
    // Requests received, in order, except the health and stats probes (/-/ready, /metrics).
    std::vector<Request> requests() const;
    int later_sent() const { return later_sent_; }   // Reply::later bytes sent so far
    int held() const { return held_; }               // requests being held right now
    int closed_while_held() const { return closed_while_held_; }
    void release();                                  // answer held requests with release_reply
    std::string release_reply = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nreleased";

    // A plain answer with a body, keep-alive.
    static std::string ok(const std::string& body, const std::string& extra_headers = "");
    // /-/ready 200 and a /metrics with `head_samples` appended samples (for single-most-data).
    static std::optional<Reply> probes(const Request& r, double head_samples = 1000);

private:
    void serve(int fd, int n);
    Script script_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0}, held_{0}, closed_while_held_{0}, later_sent_{0};
    std::atomic<bool> released_{false};
    mutable std::mutex mu_;
    std::vector<Request> requests_;
    std::vector<std::thread> threads_;
    std::thread acceptor_;
};

}  // namespace herd::test

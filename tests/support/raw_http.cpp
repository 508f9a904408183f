#include "raw_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

namespace herd::test {

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// The value of a header in a raw head ("" when absent), case-insensitively.
std::string header_of(const std::string& head, const std::string& name) {
    const std::string h = lower(head), n = "\r\n" + lower(name) + ":";
    auto at = h.find(n);
    if (at == std::string::npos) return "";
    at += n.size();
    auto end = head.find("\r\n", at);
    std::string v = head.substr(at, end - at);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
}

}  // namespace

RawConnection::RawConnection(uint16_t port, std::chrono::milliseconds timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) close();
}

RawConnection::~RawConnection() { close(); }

void RawConnection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool RawConnection::send(const std::string& bytes) {
    size_t sent = 0;
    while (fd_ >= 0 && sent < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<size_t>(n);
    }
    return fd_ >= 0;
}

bool RawConnection::fill() {
    if (fd_ < 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
}

RawConnection::Answer RawConnection::read_answer(bool head_request) {
    Answer a;
    for (;;) {
        size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
            if (!fill()) return a;
        std::string head = buffer_.substr(0, end + 2);
        buffer_.erase(0, end + 4);
        int status = 0;
        if (head.size() > 12 && head.compare(0, 5, "HTTP/") == 0) status = std::atoi(head.c_str() + 9);
        if (status >= 100 && status < 200) {
            a.interim.push_back(head.substr(0, head.find("\r\n")));
            continue;
        }
        a.status = status;
        a.head = head;
        break;
    }
    if (head_request || a.status == 204 || a.status == 304) return a;
    const std::string length = header_of(a.head, "content-length");
    if (!length.empty()) {
        const size_t n = std::stoul(length);
        while (buffer_.size() < n)
            if (!fill()) break;
        a.body = buffer_.substr(0, std::min(n, buffer_.size()));
        buffer_.erase(0, a.body.size());
    } else if (lower(header_of(a.head, "transfer-encoding")) == "chunked") {
        for (;;) {
            size_t eol;
            while ((eol = buffer_.find("\r\n")) == std::string::npos)
                if (!fill()) return a;
            const size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
            while (buffer_.size() < eol + 2 + size + 2)
                if (!fill()) return a;
            a.body += buffer_.substr(eol + 2, size);
            buffer_.erase(0, eol + 2 + size + 2);
            if (size == 0) break;
        }
    } else {
        while (fill()) {
        }
        a.body = std::move(buffer_);
        buffer_.clear();
    }
    return a;
}

bool RawConnection::closed_by_peer(std::string* rest) {
    for (;;) {
        if (fd_ < 0) return true;
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            if (rest) *rest = buffer_;
            return true;
        }
        if (n < 0) return false;  // the timeout passed with the connection open
        buffer_.append(buf, static_cast<size_t>(n));
    }
}

RawResult raw_exchange(uint16_t port, const std::string& bytes) {
    RawConnection c(port);
    RawResult r;
    c.send(bytes);
    r.answer = c.read_answer();
    r.closed = c.closed_by_peer();
    return r;
}

std::string ScriptedBackend::ok(const std::string& body, const std::string& extra_headers) {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
           extra_headers + "\r\n" + body;
}

std::optional<ScriptedBackend::Reply> ScriptedBackend::probes(const Request& r, double head_samples) {
    if (r.target == "/-/ready") return Reply{ok("Prometheus Server is Ready.\n")};
    if (r.target == "/metrics")
        return Reply{ok("prometheus_tsdb_head_series 10\nprometheus_tsdb_head_samples_appended_total " +
                        std::to_string(head_samples) +
                        "\nprometheus_tsdb_storage_blocks_bytes 0\nprometheus_tsdb_lowest_timestamp_seconds 1\n")};
    return std::nullopt;
}

ScriptedBackend::ScriptedBackend(Script script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_fd_, 128);
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] {
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            const int n = ++connections_;
            std::lock_guard lk(mu_);
            threads_.emplace_back([this, fd, n] { serve(fd, n); });
        }
    });
}

ScriptedBackend::~ScriptedBackend() {
    stop_ = true;
    acceptor_.join();
    std::vector<std::thread> threads;
    {
        std::lock_guard lk(mu_);
        threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    ::close(listen_fd_);
}

std::vector<ScriptedBackend::Request> ScriptedBackend::requests() const {
    std::lock_guard lk(mu_);
    return requests_;
}

void ScriptedBackend::release() { released_ = true; }

void ScriptedBackend::serve(int fd, int n) {
    std::string in;
    // Waits for readable data up to 50 ms at a time, so the thread notices stop_.
    auto readable = [&](int ms) {
        pollfd p{fd, POLLIN, 0};
        return ::poll(&p, 1, ms) > 0;
    };
    auto fill = [&]() -> int {  // 1 data, 0 closed, -1 nothing yet
        if (!readable(50)) return -1;
        char buf[65536];
        ssize_t got = ::recv(fd, buf, sizeof buf, 0);
        if (got <= 0) return 0;
        in.append(buf, static_cast<size_t>(got));
        return 1;
    };
    auto send_all = [&](const std::string& s) {
        size_t sent = 0;
        while (sent < s.size()) {
            ssize_t w = ::send(fd, s.data() + sent, s.size() - sent, MSG_NOSIGNAL);
            if (w <= 0) return false;
            sent += static_cast<size_t>(w);
        }
        return true;
    };
    while (!stop_) {
        size_t end;
        bool closed = false;
        while ((end = in.find("\r\n\r\n")) == std::string::npos && !stop_) {
            int r = fill();
            if (r == 0) {
                closed = true;
                break;
            }
        }
        if (closed || stop_) break;
        Request req;
        req.connection = n;
        req.head = in.substr(0, end + 2);
        in.erase(0, end + 4);
        auto sp = req.head.find(' ');
        req.method = req.head.substr(0, sp);
        req.target = req.head.substr(sp + 1, req.head.find(' ', sp + 1) - sp - 1);
        const std::string length = header_of(req.head, "content-length");
        const size_t body = length.empty() ? 0 : std::stoul(length);
        while (in.size() < body && !stop_)
            if (fill() == 0) break;
        req.body = in.substr(0, body);
        in.erase(0, std::min(body, in.size()));
        // An empty reply from the script means "the usual": the probes' answers, else 404.
        const bool probe = req.target == "/-/ready" || req.target == "/metrics";
        if (!probe) {
            std::lock_guard lk(mu_);
            requests_.push_back(req);
        }
        Reply reply = script_(req);
        if (reply.bytes.empty() && !reply.hold && !reply.close) {
            auto usual = probes(req);
            reply = usual ? *usual : Reply{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
        }
        if (reply.hold) {
            ++held_;
            bool peer_closed = false;
            while (!stop_ && !released_) {
                if (readable(20)) {
                    char c;
                    if (::recv(fd, &c, 1, MSG_PEEK) <= 0) {
                        peer_closed = true;
                        break;
                    }
                }
            }
            --held_;
            if (peer_closed) {
                ++closed_while_held_;
                break;
            }
            if (stop_) break;
            reply.bytes = release_reply;
        }
        if (!send_all(reply.bytes) || reply.close) break;
        if (!reply.later.empty()) {
            readable(50);  // the answer is complete; the connection is idle now
            if (!send_all(reply.later)) break;
            ++later_sent_;
        }
    }
    ::close(fd);
}

}  // namespace herd::test

#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <sstream>
#include <thread>

namespace herd::test {

namespace {
int connect_loopback(uint16_t port, std::chrono::milliseconds timeout) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}
}  // namespace

HttpConnection::~HttpConnection() { close(); }

bool HttpConnection::connect() {
    if (fd_ >= 0) return true;
    fd_ = connect_loopback(port_, timeout_);
    buffer_.clear();
    return fd_ >= 0;
}

void HttpConnection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
}

HttpResponse HttpConnection::request(const std::string& method, const std::string& target, const std::string& body,
                                     const std::map<std::string, std::string>& headers) {
    HttpResponse r;
    if (!connect()) return r;
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    if ((!body.empty() || method == "POST") && !headers.count("Content-Length"))
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        close();
        return r;
    }
    auto fill = [&]() {
        char buf[65536];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return false;
        buffer_.append(buf, static_cast<size_t>(n));
        return true;
    };
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos)
        if (!fill()) {
            close();
            return r;
        }
    std::istringstream head(buffer_.substr(0, head_end));
    buffer_.erase(0, head_end + 4);
    std::string line;
    std::getline(head, line);
    if (line.rfind("HTTP/1.", 0) != 0) {
        close();
        return r;
    }
    int status = std::stoi(line.substr(9, 3));
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string k = line.substr(0, colon);
        for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        if (r.headers.count(k)) v = r.headers[k] + ", " + v;
        r.headers[k] = v;
    }
    const bool head_only = method == "HEAD" || status == 204 || status == 304;
    if (!head_only && r.headers.count("content-length")) {
        size_t len = std::stoul(r.headers["content-length"]);
        while (buffer_.size() < len)
            if (!fill()) {
                close();
                return r;
            }
        r.body = buffer_.substr(0, len);
        buffer_.erase(0, len);
    } else if (!head_only && r.headers["transfer-encoding"] == "chunked") {
        for (;;) {
            size_t eol;
            while ((eol = buffer_.find("\r\n")) == std::string::npos)
                if (!fill()) {
                    close();
                    return r;
                }
            size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
            while (buffer_.size() < eol + 2 + size + 2)
                if (!fill()) {
                    close();
                    return r;
                }
            r.body += buffer_.substr(eol + 2, size);
            buffer_.erase(0, eol + 2 + size + 2);
            if (size == 0) break;
        }
    } else if (!head_only) {
        while (fill()) {
        }
        r.body = std::move(buffer_);
        close();
    }
    r.status = status;
    if (r.headers["connection"] == "close") close();
    return r;
}

struct FakeBackend::Impl {
    Handler handler;
    int listen_fd = -1;
    std::atomic<bool> stop{false};
    std::thread thread;
};

FakeBackend::FakeBackend(Handler h) : impl_(std::make_unique<Impl>()) {
    impl_->handler = std::move(h);
    impl_->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(impl_->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(impl_->listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(impl_->listen_fd, 64);
    socklen_t len = sizeof a;
    getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    impl_->thread = std::thread([impl = impl_.get()] {
        while (!impl->stop) {
            pollfd p{impl->listen_fd, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0) continue;
            int fd = accept4(impl->listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            timeval tv{2, 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string in;
            char buf[4096];
            while (in.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n <= 0) break;
                in.append(buf, static_cast<size_t>(n));
            }
            auto sp = in.find(' ');
            std::string path = sp == std::string::npos ? "" : in.substr(sp + 1, in.find(' ', sp + 1) - sp - 1);
            auto [status, body] = impl->handler(path.substr(0, path.find('?')));
            std::string out = status < 0 ? body  // the handler wrote the whole response itself
                                         : "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
                                               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
            send(fd, out.data(), out.size(), MSG_NOSIGNAL);
            ::close(fd);
        }
    });
}

FakeBackend::~FakeBackend() {
    impl_->stop = true;
    impl_->thread.join();
    ::close(impl_->listen_fd);
}

}  // namespace herd::test

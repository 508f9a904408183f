// Cookie affinity: a response sets a cookie naming the backend that served it; later requests
// carrying it go to that backend while it is eligible, and are chosen afresh when it is not.
// The cookie holds an opaque hash of the backend's id, not its address: clients learn nothing
// of the network, and every herd in an HA pair computes the same value.
#pragma once

#include <herd/plugin_api.h>

#include <chrono>
#include <mutex>
#include <vector>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace herd::affinity {

struct CookieOptions {
    std::string name = "herd_backend";
    std::string path = "/";
    std::string same_site = "Lax";  // Lax, Strict or None
    bool http_only = true;
    bool secure = false;
    std::optional<std::chrono::seconds> max_age;  // none: a session cookie
};

// 16 hex digits of FNV-1a 64 over the backend id.
std::string cookie_value(std::string_view backend_id);

// The value of cookie `name` in a request's Cookie header(s), if present.
std::optional<std::string_view> find_cookie(const herd_request& req, std::string_view name);

class CookieAffinity {
public:
    explicit CookieAffinity(CookieOptions o) : o_(std::move(o)) {}
    int64_t lookup(const herd_request& req, std::span<const herd_backend* const> eligible) const;
    // The Set-Cookie value to send, or nullopt when the request already carries the right cookie.
    std::optional<std::string> remember(const herd_request& req, const herd_backend& chosen) const;
    // The same, without building anything per request: the cookie's value and its whole
    // Set-Cookie line are made once per backend and reused. Calls add(line) — under the cache's
    // lock, so the line stays valid — when a cookie is due.
    template <class Add>
    void remember_cached(const herd_request& req, const herd_backend& chosen, Add&& add) {
        std::lock_guard lk(mu_);
        const Entry& e = entry({chosen.id.data, chosen.id.size});
        if (auto have = find_cookie(req, o_.name); have && *have == e.value) return;
        add(std::string_view(e.set_cookie));
    }
    const CookieOptions& options() const { return o_; }

private:
    struct Entry {
        std::string id, value, set_cookie;
    };
    const Entry& entry(std::string_view id);

    CookieOptions o_;
    std::mutex mu_;
    std::vector<Entry> cache_;  // a few backends; rebuilt when it grows past kMaxCached
    static constexpr size_t kMaxCached = 256;
};

}  // namespace herd::affinity

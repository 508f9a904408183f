// The affinity plugin: cookie and source-IP affinity behind the ABI.
//   affinity = [{ plugin = "affinity", name = "cookie", cookie = "herd_backend", same_site = "Lax" },
//               { plugin = "affinity", name = "sourceip", size = 65536, trusted_proxies = ["10.0.0.0/8"] }]
#include "cookie.hpp"
#include "source_ip.hpp"

#include <herd/sdk/json_config.hpp>
#include <herd/sdk/plugin.hpp>

namespace herd::affinity {
namespace {

class Cookie final : public sdk::Affinity {
public:
    explicit Cookie(const sdk::CreateContext& ctx) : impl_(parse(ctx.config_json)) {}

    int64_t lookup(const herd_request& r, std::span<const herd_backend* const> e) noexcept override {
        return impl_.lookup(r, e);
    }
    void remember(const herd_request& r, const herd_backend& chosen, const sdk::HeaderSink& out) noexcept override {
        try {
            impl_.remember_cached(r, chosen, [&](std::string_view line) { out.add("Set-Cookie", line); });
        } catch (...) {  // allocation failure: no cookie this time
        }
    }

private:
    static CookieOptions parse(const std::string& json) {
        sdk::JsonConfig cfg(json);
        CookieOptions o;
        o.name = cfg.string("cookie", o.name);
        o.path = cfg.string("path", o.path);
        o.same_site = cfg.string("same_site", o.same_site);
        o.http_only = cfg.boolean("http_only").value_or(o.http_only);
        o.secure = cfg.boolean("secure").value_or(o.secure);
        if (auto m = cfg.duration("max_age")) o.max_age = std::chrono::duration_cast<std::chrono::seconds>(*m);
        cfg.finish();
        if (o.name.empty() || o.name.find_first_of(" ;,=\"\t") != std::string::npos)
            throw sdk::ConfigError("cookie", "\"" + o.name + "\" is not a valid cookie name");
        if (o.same_site != "Lax" && o.same_site != "Strict" && o.same_site != "None")
            throw sdk::ConfigError("same_site", "must be \"Lax\", \"Strict\" or \"None\"");
        if (o.path.empty() || o.path.front() != '/') throw sdk::ConfigError("path", "must start with '/'");
        return o;
    }
    CookieAffinity impl_;
};

class SourceIp final : public sdk::Affinity {
public:
    explicit SourceIp(const sdk::CreateContext& ctx) : impl_(make(ctx.config_json)) {}

    int64_t lookup(const herd_request& r, std::span<const herd_backend* const> e) noexcept override {
        try {
            return impl_.lookup(r, e);
        } catch (...) {
            return HERD_AFFINITY_NONE;
        }
    }
    void remember(const herd_request& r, const herd_backend& chosen, const sdk::HeaderSink&) noexcept override {
        try {
            impl_.remember(r, chosen);
        } catch (...) {  // allocation failure: not remembered this time
        }
    }

private:
    static SourceIpAffinity make(const std::string& json) {
        sdk::JsonConfig cfg(json);
        auto size = cfg.integer("size").value_or(65536);
        auto proxies = cfg.strings("trusted_proxies").value_or(std::vector<std::string>{});
        cfg.finish();
        if (size < 1 || size > 100'000'000) throw sdk::ConfigError("size", "must be between 1 and 100000000");
        std::vector<Cidr> trusted;
        for (size_t i = 0; i < proxies.size(); ++i) {
            auto c = parse_cidr(proxies[i]);
            if (!c) throw sdk::ConfigError("trusted_proxies[" + std::to_string(i) + "]",
                                           "\"" + proxies[i] + "\" is not an address or CIDR range");
            trusted.push_back(*c);
        }
        return SourceIpAffinity(static_cast<size_t>(size), std::move(trusted));
    }
    SourceIpAffinity impl_;
};

}  // namespace
}  // namespace herd::affinity

HERD_PLUGIN("affinity", "0.1.0", "Keep clients on one backend",
            herd::sdk::factory<herd::affinity::Cookie>("cookie", "a cookie names the backend; honoured while it is eligible"),
            herd::sdk::factory<herd::affinity::SourceIp>(
                "sourceip", "client address -> backend, in an LRU; X-Forwarded-For only from trusted proxies"))

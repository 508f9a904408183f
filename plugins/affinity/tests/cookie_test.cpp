// Cookie affinity.
#include "cookie.hpp"

#include <catch2/catch.hpp>

#include <deque>

using namespace herd::affinity;
using Catch::Matchers::Contains;

namespace {
struct Req {
    std::deque<std::string> strings;
    std::vector<herd_header> headers;
    herd_request r{};
    Req& header(const std::string& n, const std::string& v) {
        strings.push_back(n);
        auto& ns = strings.back();
        strings.push_back(v);
        auto& vs = strings.back();
        headers.push_back({{ns.data(), ns.size()}, {vs.data(), vs.size()}});
        r.headers = headers.data();
        r.header_count = headers.size();
        return *this;
    }
};
herd_backend backend(const std::string& id) {
    herd_backend b{};
    b.id = {id.data(), id.size()};
    return b;
}
}  // namespace

TEST_CASE("cookie: set once, then honoured while its backend is eligible", "[affinity]") {
    CookieAffinity c({});
    const std::string a_id = "http://10.0.0.1:9090", b_id = "http://10.0.0.2:9090";
    herd_backend a = backend(a_id), b = backend(b_id);
    const herd_backend* both[] = {&a, &b};
    const herd_backend* only_a[] = {&a};

    Req fresh;
    CHECK(c.lookup(fresh.r, both) == HERD_AFFINITY_NONE);
    auto set = c.remember(fresh.r, b);
    REQUIRE(set);
    CHECK_THAT(*set, Contains("herd_backend=" + cookie_value(b_id)) && Contains("Path=/") && Contains("HttpOnly") &&
                         Contains("SameSite=Lax"));
    CHECK_THAT(*set, !Contains("10.0.0.2"));  // the cookie does not leak the backend's address

    Req back;
    back.header("Cookie", "other=1; herd_backend=" + cookie_value(b_id) + "; x=y");
    CHECK(c.lookup(back.r, both) == 1);
    CHECK_FALSE(c.remember(back.r, b));  // already right: no new Set-Cookie

    // Its backend is no longer eligible: ignored, and the next answer moves the client.
    CHECK(c.lookup(back.r, only_a) == HERD_AFFINITY_NONE);
    CHECK(c.remember(back.r, a));
}

TEST_CASE("cookie: several Cookie headers, quoted values, options", "[affinity]") {
    CookieOptions o;
    o.name = "route";
    o.same_site = "None";
    o.max_age = std::chrono::seconds(3600);
    CookieAffinity c(o);
    const std::string id = "http://h:1";
    herd_backend b = backend(id);
    const herd_backend* one[] = {&b};
    Req r;
    r.header("Cookie", "a=1").header("cookie", "route=\"" + cookie_value(id) + "\"");
    CHECK(c.lookup(r.r, one) == 0);
    Req fresh;
    auto set = c.remember(fresh.r, b);
    REQUIRE(set);
    CHECK_THAT(*set, Contains("route=") && Contains("Max-Age=3600") && Contains("Secure") && Contains("SameSite=None"));
}

TEST_CASE("cookie values are stable across herd instances", "[affinity]") {
    CHECK(cookie_value("http://10.0.0.1:9090") == cookie_value("http://10.0.0.1:9090"));
    CHECK(cookie_value("http://10.0.0.1:9090") != cookie_value("http://10.0.0.2:9090"));
    CHECK(cookie_value("x").size() == 16);
}

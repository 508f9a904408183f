// Source-IP affinity — including each of mpp's affinity bugs, shown absent.
#include "source_ip.hpp"

#include <catch2/catch.hpp>

#include <deque>

using namespace herd::affinity;

namespace {
struct Req {
    std::deque<std::string> strings;
    std::vector<herd_header> headers;
    herd_request r{};
    explicit Req(const std::string& peer) {
        strings.push_back(peer);
        r.peer_address = {strings.back().data(), strings.back().size()};
    }
    Req& xff(const std::string& v) {
        strings.push_back("X-Forwarded-For");
        auto& n = strings.back();
        strings.push_back(v);
        auto& s = strings.back();
        headers.push_back({{n.data(), n.size()}, {s.data(), s.size()}});
        r.headers = headers.data();
        r.header_count = headers.size();
        return *this;
    }
};
struct Backends {
    std::string a_id = "http://a:1", b_id = "http://b:1";
    herd_backend a{}, b{};
    Backends() {
        a.id = {a_id.data(), a_id.size()};
        b.id = {b_id.data(), b_id.size()};
    }
};
std::vector<Cidr> trusted(std::initializer_list<const char*> l) {
    std::vector<Cidr> out;
    for (auto s : l) out.push_back(*parse_cidr(s));
    return out;
}
}  // namespace

TEST_CASE("addresses and ranges parse, v4 and v6", "[affinity]") {
    CHECK(parse_ip("192.0.2.1"));
    CHECK(parse_ip("2001:db8::1"));
    CHECK(parse_ip("[2001:db8::1]:443") == parse_ip("2001:db8::1"));
    CHECK(parse_ip("192.0.2.1:5678") == parse_ip("192.0.2.1"));  // mpp keyed on "ip:port"
    CHECK(parse_ip("::ffff:192.0.2.1") == parse_ip("192.0.2.1"));
    CHECK_FALSE(parse_ip("not-an-ip"));
    CHECK_FALSE(parse_ip(""));
    auto net = parse_cidr("10.0.0.0/8");
    REQUIRE(net);
    CHECK(net->contains(*parse_ip("10.1.2.3")));
    CHECK_FALSE(net->contains(*parse_ip("11.0.0.1")));
    CHECK(parse_cidr("2001:db8::/32")->contains(*parse_ip("2001:db8:1::5")));
    CHECK_FALSE(parse_cidr("10.0.0.0/33"));
    CHECK(parse_cidr("192.0.2.7")->contains(*parse_ip("192.0.2.7")));
}

TEST_CASE("a client stays on its backend", "[affinity]") {
    Backends bs;
    const herd_backend* both[] = {&bs.a, &bs.b};
    SourceIpAffinity s(100, {});
    Req r("198.51.100.7");
    CHECK(s.lookup(r.r, both) == HERD_AFFINITY_NONE);
    s.remember(r.r, bs.b);
    CHECK(s.lookup(r.r, both) == 1);
    Req other("198.51.100.8");
    CHECK(s.lookup(other.r, both) == HERD_AFFINITY_NONE);
}

TEST_CASE("mpp bug: different ports of one client are one client: different clients are not", "[affinity]") {
    Backends bs;
    const herd_backend* both[] = {&bs.a, &bs.b};
    SourceIpAffinity s(100, {});
    Req first("198.51.100.7:40000");
    s.remember(first.r, bs.a);
    Req again("198.51.100.7:40001");
    CHECK(s.lookup(again.r, both) == 0);
}

TEST_CASE("mpp bug: IPv6 clients are distinct (mpp mapped them all to one key)", "[affinity]") {
    Backends bs;
    const herd_backend* both[] = {&bs.a, &bs.b};
    SourceIpAffinity s(100, {});
    Req x("2001:db8::1"), y("2001:db8::2");
    s.remember(x.r, bs.a);
    s.remember(y.r, bs.b);
    CHECK(s.lookup(x.r, both) == 0);
    CHECK(s.lookup(y.r, both) == 1);
}

TEST_CASE("mpp bug: multi-hop X-Forwarded-For keys on the client hop, only from trusted proxies", "[affinity]") {
    Backends bs;
    const herd_backend* both[] = {&bs.a, &bs.b};
    SourceIpAffinity s(100, trusted({"10.0.0.0/8"}));
    Req c1("10.0.0.5");
    c1.xff("203.0.113.9, 10.0.0.4");  // client, then an inner proxy
    Req c2("10.0.0.5");
    c2.xff("203.0.113.10, 10.0.0.4");
    s.remember(c1.r, bs.a);
    s.remember(c2.r, bs.b);
    CHECK(s.lookup(c1.r, both) == 0);
    CHECK(s.lookup(c2.r, both) == 1);  // mpp: both keyed 0, so they shared a route

    // An untrusted peer's X-Forwarded-For is ignored: it could claim to be anyone.
    Req forged("198.51.100.1");
    forged.xff("203.0.113.9");
    CHECK(s.lookup(forged.r, both) == HERD_AFFINITY_NONE);
    Req garbage("10.0.0.5");
    garbage.xff("not an address");
    s.remember(garbage.r, bs.b);  // falls back to the peer
    Req peer("10.0.0.5");
    CHECK(s.lookup(peer.r, both) == 1);
}

TEST_CASE("mpp bug: a remembered backend that is no longer eligible is not used", "[affinity]") {
    Backends bs;
    const herd_backend* both[] = {&bs.a, &bs.b};
    const herd_backend* only_b[] = {&bs.b};
    SourceIpAffinity s(100, {});
    Req r("198.51.100.7");
    s.remember(r.r, bs.a);
    CHECK(s.lookup(r.r, only_b) == HERD_AFFINITY_NONE);
    s.remember(r.r, bs.b);
    CHECK(s.lookup(r.r, both) == 1);
}

TEST_CASE("the LRU is bounded", "[affinity]") {
    Backends bs;
    SourceIpAffinity s(32, {});
    for (int i = 0; i < 1000; ++i) {
        Req r("198.51.100." + std::to_string(i % 250) + ":" + std::to_string(i));
        Req r6("2001:db8::" + std::to_string(i));
        s.remember(r.r, bs.a);
        s.remember(r6.r, bs.a);
    }
    CHECK(s.size() <= 32);
    CHECK(s.size() > 0);
}

// The SDK's helpers that plugin authors rely on.
#include <herd/sdk/duration.hpp>
#include <herd/sdk/json_config.hpp>

#include <catch2/catch.hpp>

using namespace herd::sdk;
using namespace std::chrono_literals;

TEST_CASE("durations follow Prometheus' syntax", "[sdk]") {
    CHECK(parse_duration("0") == 0ms);
    CHECK(parse_duration("500ms") == 500ms);
    CHECK(parse_duration("10s") == 10s);
    CHECK(parse_duration("1m30s") == 90s);
    CHECK(parse_duration("2h") == 2h);
    CHECK(parse_duration("1d") == 24h);
    CHECK(parse_duration("1w2d") == 216h);
    CHECK_FALSE(parse_duration(""));
    CHECK_FALSE(parse_duration("10"));
    CHECK_FALSE(parse_duration("s"));
    CHECK_FALSE(parse_duration("30s1m"));  // out of order
    CHECK_FALSE(parse_duration("1s1s"));   // repeated
    CHECK_FALSE(parse_duration("1.5s"));
    CHECK_FALSE(parse_duration("-1s"));
    CHECK_FALSE(parse_duration("99999999999999999999s"));
}

TEST_CASE("JsonConfig refuses unknown keys and wrong types, naming the key", "[sdk]") {
    JsonConfig c(R"({"a":"x","n":3,"l":["p","q"],"d":"5s","t":{"k":1}})");
    CHECK(c.string("a") == "x");
    CHECK(c.integer("n") == 3);
    CHECK(c.strings("l") == std::vector<std::string>{"p", "q"});
    CHECK(c.duration("d") == 5s);
    CHECK(c.table("t")->at("k") == 1);
    CHECK_FALSE(c.string("absent"));
    CHECK_NOTHROW(c.finish());

    JsonConfig bad(R"({"a":1,"l":["p",2],"d":"5 s","extra":true})");
    try {
        bad.string("a");
        FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
        CHECK(e.key() == "a");
        CHECK(std::string(e.what()) == "must be a string");
    }
    try {
        bad.strings("l");
        FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
        CHECK(e.key() == "l[1]");
    }
    CHECK_THROWS_AS(bad.duration("d"), ConfigError);
    try {
        bad.finish();
        FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
        CHECK(e.key() == "extra");
        CHECK(e.status() == HERD_ERR_INVALID_ARGUMENT);
    }
    CHECK_THROWS_AS(JsonConfig("[1]"), ConfigError);
    CHECK_THROWS_AS(JsonConfig("{"), ConfigError);
}

TEST_CASE("report() turns exceptions into statuses and messages", "[sdk]") {
    struct Out {
        std::string key, message;
    } out;
    herd_error_out err{{sizeof(herd_error_out), HERD_ABI_MAJOR, HERD_ABI_MINOR}, &out,
                       [](void* c, herd_str m) { static_cast<Out*>(c)->message.assign(m.data, m.size); },
                       [](void* c, herd_str k, herd_str m) {
                           static_cast<Out*>(c)->key.assign(k.data, k.size);
                           static_cast<Out*>(c)->message.assign(m.data, m.size);
                       }};
    auto call = [&](auto&& f) {
        try {
            f();
        } catch (...) {
            return report(&err);
        }
        return HERD_OK;
    };
    CHECK(call([] { throw Error(HERD_ERR_CONFLICT, "lost the race"); }) == HERD_ERR_CONFLICT);
    CHECK(out.message == "lost the race");
    CHECK(call([] { throw ConfigError("x.y", "bad"); }) == HERD_ERR_INVALID_ARGUMENT);
    CHECK(out.key == "x.y");
    CHECK(call([] { throw std::runtime_error("boom"); }) == HERD_ERR_INTERNAL);
    CHECK(out.message == "unexpected exception: boom");
    CHECK(call([] { throw 42; }) == HERD_ERR_INTERNAL);
    CHECK(out.message == "unexpected exception of unknown type");
}

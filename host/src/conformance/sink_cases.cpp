// Sink cases: the contract of herd_sink_ops as sharding and dispatch rely on it — apply() makes
// the agent hold exactly the set, again and again without change, keeps what ran when an item is
// bad, and held() tells the truth, even to a new instance. Each case ends with the sink empty.
#include "conformance/suite.hpp"

#include "sink/sink_client.hpp"

#include <nlohmann/json.hpp>

#include <map>

namespace herd::conformance {

namespace {

std::string media(const Context& c) { return c.options().media_type.empty() ? HERD_SINK_SCRAPE_CONFIG : c.options().media_type; }

// A valid item of the sink's media type; `n` makes each distinct.
sink::Item item(const Context& c, const std::string& name, int n) {
    const std::string m = media(c), port = std::to_string(20000 + n);
    std::string body;
    if (m == HERD_SINK_TARGET_GROUPS)
        body = R"([{"targets":["127.0.0.1:)" + port + R"("],"labels":{"conformance":")" + std::to_string(n) + R"("}}])";
    else if (m == HERD_SINK_CHECK_CONFIG)
        body = "init_config: {}\ninstances:\n- host: 127.0.0.1\n  port: " + port + "\n";
    else
        body = "scrape_configs:\n- job_name: conformance-" + std::to_string(n) +
               "\n  static_configs:\n  - targets: ['127.0.0.1:" + port + "']\n";
    return {name, m, body};
}

sink::Item malformed(const Context& c, const std::string& name) {
    const std::string m = media(c);
    return {name, m, m == HERD_SINK_TARGET_GROUPS ? "[{\"targets\": " : "scrape_configs: [ {\n  job_name: \"\n"};
}

std::map<std::string, std::string> as_map(const std::vector<sink::Item>& items) {
    std::map<std::string, std::string> out;
    for (const auto& i : items) out[i.name] = i.body;
    return out;
}

std::string names(const std::map<std::string, std::string>& m) {
    std::string out;
    for (const auto& [k, v] : m) out += (out.empty() ? "" : ", ") + k;
    return "{" + out + "}";
}

const herd_sink_ops& ops_of(Context& c) {
    const auto* ops = c.factory().sink;
    c.require(ops && ops->apply && ops->held, "the factory's sink table (apply, held) is not set");
    return *ops;
}

struct Emptied {  // leaves the agent as the kit found it: holding nothing of the kit's
    sink::SinkClient& client;
    ~Emptied() { client.apply({}); }
};

void check_holds(Context& c, sink::SinkClient& client, const std::vector<sink::Item>& expected, const std::string& when) {
    std::vector<sink::Item> held;
    try {
        held = client.held();
    } catch (const std::exception& e) {
        c.check(false, when + ": held() failed: " + e.what());
        return;
    }
    const auto want = as_map(expected), have = as_map(held);
    c.check(have == want, when + ": held() must be exactly " + names(want) + " with the bodies applied, it is " + names(have));
}

void exact_set(Context& c) {
    ops_of(c);
    auto inst = c.create();
    sink::SinkClient client(*inst);
    Emptied emptied{client};
    const std::vector<sink::Item> first{item(c, "a", 1), item(c, "b", 2), item(c, "team/c", 3)};
    auto r = client.apply(first);
    c.require(r.ok(), "apply of 3 valid items: " + std::string(status_text(r.status)) + " " + r.message);
    check_holds(c, client, first, "after applying {a, b, team/c}");
    const std::vector<sink::Item> second{item(c, "b", 22), item(c, "team/c", 3), item(c, "d", 4)};
    r = client.apply(second);
    c.require(r.ok(), "apply of the next set: " + r.message);
    check_holds(c, client, second, "after applying {b (changed), team/c, d}");
    r = client.apply({});
    c.check(r.ok(), "apply of the empty set: " + r.message);
    check_holds(c, client, {}, "after applying the empty set");
}

void idempotent(Context& c) {
    ops_of(c);
    auto inst = c.create();
    sink::SinkClient client(*inst);
    Emptied emptied{client};
    const std::vector<sink::Item> set{item(c, "x", 5), item(c, "y", 6)};
    c.require(client.apply(set).ok(), "first apply");
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) {
        auto r = client.apply(set);
        c.check(r.ok(), "applying the set it holds again must succeed: " + r.message);
    }
    const auto each = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count() / 3;
    check_holds(c, client, set, "after applying one set four times");
    c.note("a repeated apply took " + std::to_string(each) + " ms");
    std::vector<sink::Item> reversed(set.rbegin(), set.rend());
    c.check(client.apply(reversed).ok(), "a set is a set: the same items in another order");
    check_holds(c, client, set, "after applying the same items in another order");
}

void refused_item(Context& c) {
    ops_of(c);
    auto inst = c.create();
    sink::SinkClient client(*inst);
    Emptied emptied{client};
    const std::vector<sink::Item> good{item(c, "good", 7)};
    c.require(client.apply(good).ok(), "apply of one valid item");
    auto r = client.apply({item(c, "good", 7), malformed(c, "broken"), item(c, "other", 8)});
    if (r.ok()) {
        c.without("validation", "the sink accepted a malformed item (it does not check bodies)");
        return;
    }
    bool named = r.message.find("broken") != std::string::npos;
    for (const auto& [n, why] : r.refused) named = named || n == "broken";
    c.check(named, "the failure must name the item that broke it (\"broken\"), got: " + r.message);
    for (const auto& [n, why] : r.refused) c.check(n != "good" && n != "other", "a valid item was reported as refused: " + n);
    check_holds(c, client, good, "after a refused apply (the agent keeps what it ran)");
}

void held_after_recreate(Context& c) {
    ops_of(c);
    const std::vector<sink::Item> set{item(c, "kept/one", 9), item(c, "kept/two", 10)};
    {
        auto inst = c.create("conformance");
        sink::SinkClient client(*inst);
        c.require(client.apply(set).ok(), "apply with the first instance");
    }
    auto again = c.create("conformance");
    sink::SinkClient client(*again);
    Emptied emptied{client};
    check_holds(c, client, set, "a new instance of the same configuration (herd restarted)");
}

void load(Context& c) {
    const auto& ops = ops_of(c);
    if (!ops.load) c.lacks("load", "the sink reports no per-item load (load is NULL)");
    auto inst = c.create();
    sink::SinkClient client(*inst);
    Emptied emptied{client};
    c.require(client.apply({item(c, "loaded", 11)}).ok(), "apply of one item");
    std::optional<std::string> json;
    try {
        json = client.load();
    } catch (const std::exception& e) {
        c.require(false, std::string("load() failed: ") + e.what());
    }
    if (!json) c.lacks("load", "load() answered UNSUPPORTED: the sink cannot tell per-item load");
    auto j = nlohmann::json::parse(*json, nullptr, false);
    c.require(j.is_object(), "load() must give a JSON object, got: " + json->substr(0, 200));
    for (const auto& [k, v] : j.items()) {
        c.check(v.is_number(), "load of " + quote_key(k) + " must be a number");
        c.check(k == "loaded", "load() names an item the sink does not hold: " + quote_key(k));
    }
}

}  // namespace

std::vector<Case> sink_cases() {
    return {
        {"sink.exact_set", "apply() makes the sink hold exactly the set: additions, changes, removals, empty", exact_set},
        {"sink.idempotent", "applying the set it holds again (in any order) succeeds and changes nothing", idempotent},
        {"sink.refused_item", "a malformed item is named and the agent keeps what it ran before", refused_item},
        {"sink.held_after_recreate", "a new instance (herd restarted) finds what the last one applied", held_after_recreate},
        {"sink.load", "load(), when set, is a JSON object of numbers for held items", load},
    };
}

}  // namespace herd::conformance

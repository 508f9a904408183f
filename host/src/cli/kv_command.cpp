// `herd kv -c FILE [--kv NAME] get|put|list|del|watch`: the configured KV store, for operators
// (like etcdctl or consul kv). Values are printed as they are; list and watch print one JSON
// object per line so scripts can read them.
#include "cli/commands.hpp"
#include "cli/lookup.hpp"
#include "config/config.hpp"
#include "kv/kv_client.hpp"
#include "metrics/registry.hpp"
#include "runtime/app.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>

namespace herd::cli {

namespace {
nlohmann::json to_json(const kv::Entry& e) {
    return {{"key", e.key}, {"value", e.value}, {"create_revision", e.create_revision},
            {"mod_revision", e.mod_revision}, {"lease", e.lease}};
}
int64_t parse_expect(const std::string& s) {
    if (s.empty() || s == "any") return HERD_KV_EXPECT_ANY;
    if (s == "absent") return HERD_KV_EXPECT_ABSENT;
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used != s.size() || v <= 0) throw std::invalid_argument("--expect takes absent, any or a revision");
    return v;
}
}  // namespace

int kv(const Common& c, const KvArgs& a) {
    // Before any plugin thread exists: the main thread waits for Ctrl-C in `watch`.
    if (a.action == "watch") runtime::block_signals();
    auto opened = open_instance(c, a.config, HERD_KIND_KV, "kv", a.name);
    if (!opened) return 1;
    kv::KvClient client(*opened->instance);
    const std::string label = "kv \"" + (a.name.empty() ? opened->instance->name() : a.name) + "\": ";
    try {
        if (a.action == "get") {
            auto e = client.get(a.key);
            if (!e) {
                std::cerr << label << "key \"" << a.key << "\" does not exist\n";
                return 1;
            }
            if (a.json) std::cout << to_json(*e).dump() << "\n";
            else std::cout << e->value << "\n";
        } else if (a.action == "put") {
            std::cout << client.put(a.key, a.value, parse_expect(a.expect), a.lease) << "\n";
        } else if (a.action == "del") {
            std::cout << client.del(a.key, parse_expect(a.expect)) << "\n";
        } else if (a.action == "list") {
            int64_t rev = client.list(a.key, [&](const kv::Entry& e) { std::cout << to_json(e).dump() << "\n"; });
            std::cerr << "revision " << rev << "\n";
        } else if (a.action == "watch") {
            std::mutex mu;  // events and errors come from the plugin's thread
            // "now": the revision of a listing is the present. "first": after revision 0, i.e.
            // every change the store retains (a store without history answers with the present
            // state as puts; one that compacted resets, and the reset line says from where).
            int64_t from = 0;
            if (a.from == "now") {
                from = client.list(a.key, [](const kv::Entry&) {});
            } else if (a.from != "first") {
                char* end = nullptr;
                from = std::strtoll(a.from.c_str(), &end, 10);
                if (a.from.empty() || *end || from <= 0) {
                    std::cerr << "--from \"" << a.from << "\": now, first or a revision (a number above 0)\n";
                    return 2;
                }
            }
            auto w = client.watch(
                a.key, from,
                [&](const std::vector<kv::Event>& batch) {
                    std::lock_guard lk(mu);
                    for (const auto& ev : batch) {
                        auto j = to_json(ev.entry);
                        j["type"] = ev.type == HERD_KV_EVENT_PUT ? "put" : "delete";
                        std::cout << j.dump() << std::endl;
                    }
                },
                [&](int64_t rev) {
                    std::lock_guard lk(mu);
                    std::cout << nlohmann::json{{"type", "reset"}, {"revision", rev}}.dump() << std::endl;
                    std::cerr << label << "the store no longer has every change asked for (compacted); "
                              << "relist (herd kv list) and watch --from " << rev << "\n";
                },
                [&](herd_status, const std::string& m) {
                    std::lock_guard lk(mu);
                    std::cerr << label << m << std::endl;
                });
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGINT);
            sigaddset(&set, SIGTERM);
            int sig = 0;
            sigwait(&set, &sig);
        }
    } catch (const kv::KvError& e) {
        std::cerr << label << e.what() << "\n";
        return e.status() == HERD_ERR_CONFLICT ? 3 : 1;
    }
    return 0;
}

}  // namespace herd::cli

// `herd sharding -c FILE [--sharding NAME] configs | get NAME | put NAME FILE | del NAME | ring | owner KEY`:
// a sharding pipeline's store from the command line — the config API's operations plus the ring
// as the members see it (like `herd kv`).
#include "cli/commands.hpp"
#include "cli/lookup.hpp"
#include "sharding/config_store.hpp"
#include "sharding/membership.hpp"
#include "sharding/ring.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

namespace herd::cli {

int sharding(const Common& c, const ShardingArgs& a) {
    auto loaded = config::load_file(a.config, c.default_plugin_dir);
    const auto* pc = find_pipeline(loaded, a.config, "sharding", a.name, "--sharding");
    if (!pc) return 1;
    const auto& cfg = *pc->sharding;
    auto opened = open_instance(c, a.config, HERD_KIND_KV, "kv", cfg.kv);
    if (!opened) return 1;
    kv::KvClient kv(*opened->instance);
    sharding::ConfigStore store(kv, cfg.prefix, cfg.max_config_size);
    const std::string label = "sharding \"" + pc->name + "\": ";
    try {
        if (a.action == "configs") {
            for (const auto& n : store.names()) std::cout << n << "\n";
        } else if (a.action == "get") {
            auto v = store.get(a.key);
            if (!v) {
                std::cerr << label << "config \"" << a.key << "\" does not exist\n";
                return 1;
            }
            std::cout << *v;
        } else if (a.action == "put") {
            std::ifstream in(a.file);
            if (!in) {
                std::cerr << a.file.string() << ": cannot read it\n";
                return 2;
            }
            std::ostringstream body;
            body << in.rdbuf();
            auto r = store.put(a.key, body.str());
            if (!r.error.empty()) {
                std::cerr << label << r.error << "\n";
                return 1;
            }
            std::cout << (r.status == 201 ? "created" : "updated") << "\n";
        } else if (a.action == "del") {
            if (!store.del(a.key)) {
                std::cerr << label << "config \"" << a.key << "\" does not exist\n";
                return 1;
            }
        } else {
            std::vector<std::string> live;
            std::map<std::string, sharding::Member> members;
            kv.list(cfg.prefix + "members/", [&](const kv::Entry& e) {
                sharding::Member m;
                if (sharding::decode(e.value, &m)) members[m.id] = m;
            });
            for (const auto& [id, m] : members)
                if (m.state == "active") live.push_back(id);
            sharding::Ring ring(live, static_cast<uint32_t>(cfg.tokens));
            if (a.action == "owner") {
                auto o = ring.owner_of(a.key);
                if (!o) {
                    std::cerr << label << "no live member\n";
                    return 1;
                }
                std::cout << *o << "\n";
            } else {
                const auto shares = ring.shares();
                std::map<std::string, size_t> owned;
                for (const auto& n : store.names())
                    if (auto o = ring.owner_of(n)) ++owned[std::string(*o)];
                for (const auto& [id, m] : members) {
                    char pct[16];
                    std::snprintf(pct, sizeof pct, "%6.2f%%", shares.count(id) ? shares.at(id) * 100 : 0.0);
                    std::cout << id << "  " << m.state << "  " << m.advertise << "  share " << pct << "  configs "
                              << (owned.count(id) ? owned.at(id) : 0) << "\n";
                }
            }
        }
    } catch (const std::exception& e) {
        std::cerr << label << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace herd::cli

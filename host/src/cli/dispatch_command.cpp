// `herd dispatch -c FILE [--dispatch NAME] checks | get ID | put ID FILE | del ID | assignments | leader`:
// a dispatch pipeline's store from the command line — the checks API's operations plus where
// each check runs and who leads (like `herd kv`, it needs no running herd).
#include "cli/commands.hpp"
#include "cli/lookup.hpp"
#include "dispatch/dispatch_store.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

namespace herd::cli {

int dispatch(const Common& c, const DispatchArgs& a) {
    auto loaded = config::load_file(a.config, c.default_plugin_dir);
    const auto* pc = find_pipeline(loaded, a.config, "dispatch", a.name, "--dispatch");
    if (!pc) return 1;
    const auto& cfg = *pc->dispatch;
    auto opened = open_instance(c, a.config, HERD_KIND_KV, "kv", cfg.kv);
    if (!opened) return 1;
    kv::KvClient kv(*opened->instance);
    dispatch::DispatchStore store(kv, cfg.prefix, cfg.max_check_size);
    const std::string label = "dispatch \"" + pc->name + "\": ";
    try {
        if (a.action == "checks") {
            std::vector<std::string> bad;
            for (const auto& [id, check] : store.checks(nullptr, &bad)) std::cout << id << "  " << check.check_name << "\n";
            for (const auto& id : bad) std::cerr << label << "record " << id << " is not a check\n";
        } else if (a.action == "get") {
            auto check = store.check(a.key);
            if (!check) {
                std::cerr << label << "no check \"" << a.key << "\"\n";
                return 1;
            }
            std::cout << dispatch::to_api_json(*check).dump(2) << "\n";
        } else if (a.action == "put") {
            std::ifstream in(a.file);
            if (!in) {
                std::cerr << a.file.string() << ": cannot read it\n";
                return 2;
            }
            std::ostringstream body;
            body << in.rdbuf();
            if (body.str().size() > store.max_check_size()) {
                std::cerr << label << a.file.string() << " is over max_check_size (" << store.max_check_size() << " bytes)\n";
                return 1;
            }
            std::string why;
            auto check = dispatch::parse_check(body.str(), a.key, &why);
            if (!check) {
                std::cerr << label << a.file.string() << ": " << why << "\n";
                return 1;
            }
            const bool existed = store.check(a.key).has_value();
            store.put_check(*check);
            std::cout << (existed ? "updated" : "created") << "\n";
        } else if (a.action == "del") {
            if (!store.delete_check(a.key)) {
                std::cerr << label << "no check \"" << a.key << "\"\n";
                return 1;
            }
        } else if (a.action == "assignments") {
            auto records = store.records();
            std::map<std::string, int64_t> term_of;
            for (const auto& [node, r] : records) term_of[node] = r.term;
            for (const auto& [id, a] : dispatch::DispatchStore::assignments(records))
                std::cout << id << "  " << a.node << (a.from.empty() ? "" : " (moving from " + a.from + ")") << "  term "
                          << term_of[a.node] << "\n";
        } else {
            auto e = kv.get(store.leader_key());
            if (!e) {
                std::cerr << label << "no leader (" << store.leader_key() << " is empty)\n";
                return 1;
            }
            std::cout << e->value << "  term " << e->create_revision << "\n";
        }
    } catch (const std::exception& e) {
        std::cerr << label << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace herd::cli

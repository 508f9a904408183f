#include "dispatch/dispatch_store.hpp"

#include <nlohmann/json.hpp>

namespace herd::dispatch {

std::map<std::string, Check> DispatchStore::checks(int64_t* revision, std::vector<std::string>* bad) {
    std::map<std::string, Check> out;
    const std::string p = checks_prefix();
    const int64_t rev = kv_.list(p, [&](const kv::Entry& e) {
        const std::string id = e.key.substr(p.size());
        if (auto c = from_record(id, e.value)) out[id] = std::move(*c);
        else if (bad) bad->push_back(id);
    });
    if (revision) *revision = rev;
    return out;
}

std::optional<Check> DispatchStore::check(const std::string& id) {
    auto e = kv_.get(checks_prefix() + id);
    if (!e) return std::nullopt;
    return from_record(id, e->value);
}

int64_t DispatchStore::put_check(const Check& c) { return kv_.put(checks_prefix() + c.id, to_record(c)); }

bool DispatchStore::delete_check(const std::string& id) {
    try {
        kv_.del(checks_prefix() + id, HERD_KV_EXPECT_ANY);
        return true;
    } catch (const kv::KvError& e) {
        if (e.status() == HERD_ERR_NOT_FOUND) return false;
        throw;
    }
}

std::string DispatchStore::encode(const Assignment& a, int64_t term) {
    nlohmann::ordered_json j{{"node", a.node}};
    if (!a.from.empty()) j["from"] = a.from;
    j["term"] = term;
    return j.dump();
}

std::optional<AssignmentRecord> DispatchStore::decode(std::string_view value) {
    try {
        auto j = nlohmann::json::parse(value);
        AssignmentRecord r;
        r.assignment.node = j.at("node").get<std::string>();
        r.assignment.from = j.value("from", "");
        r.term = j.at("term").get<int64_t>();
        return r;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::map<std::string, AssignmentRecord> DispatchStore::assignments(int64_t* revision) {
    std::map<std::string, AssignmentRecord> out;
    const std::string p = assign_prefix();
    const int64_t rev = kv_.list(p, [&](const kv::Entry& e) {
        if (auto r = decode(e.value)) {
            r->mod_revision = e.mod_revision;
            out[e.key.substr(p.size())] = *r;
        }
    });
    if (revision) *revision = rev;
    return out;
}

int64_t DispatchStore::write(const std::string& id, const std::optional<Assignment>& a, int64_t term, int64_t expected) {
    const std::string key = assign_prefix() + id;
    if (!a) return kv_.del(key, expected ? expected : HERD_KV_EXPECT_ANY);
    return kv_.put(key, encode(*a, term), expected ? expected : HERD_KV_EXPECT_ABSENT);
}

}  // namespace herd::dispatch

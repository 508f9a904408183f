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

std::string DispatchStore::encode(const std::map<std::string, std::string>& checks, int64_t term) {
    auto ids = nlohmann::json::array();
    auto moving = nlohmann::json::object();
    for (const auto& [id, from] : checks) {
        if (from.empty()) ids.push_back(id);
        else moving[id] = from;
    }
    nlohmann::ordered_json j{{"term", term}, {"checks", std::move(ids)}};
    if (!moving.empty()) j["moving_in"] = std::move(moving);
    return j.dump();
}

std::optional<NodeRecord> DispatchStore::decode(std::string_view value) {
    try {
        auto j = nlohmann::json::parse(value);
        NodeRecord r;
        r.term = j.at("term").get<int64_t>();
        for (const auto& id : j.at("checks")) r.checks[id.get<std::string>()] = "";
        if (j.contains("moving_in"))
            for (const auto& [id, from] : j["moving_in"].items()) r.checks[id] = from.get<std::string>();
        return r;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::map<std::string, NodeRecord> DispatchStore::records(int64_t* revision) {
    std::map<std::string, NodeRecord> out;
    const std::string p = assign_prefix();
    const int64_t rev = kv_.list(p, [&](const kv::Entry& e) {
        if (auto r = decode(e.value)) {
            r->mod_revision = e.mod_revision;
            out[e.key.substr(p.size())] = std::move(*r);
        }
    });
    if (revision) *revision = rev;
    return out;
}

std::map<std::string, Assignment> DispatchStore::assignments(const std::map<std::string, NodeRecord>& records) {
    std::map<std::string, std::pair<Assignment, int64_t>> best;
    for (const auto& [node, r] : records)
        for (const auto& [id, from] : r.checks) {
            auto it = best.find(id);
            if (it == best.end() || r.mod_revision > it->second.second) best[id] = {Assignment{node, from}, r.mod_revision};
        }
    std::map<std::string, Assignment> out;
    for (auto& [id, a] : best) out[id] = std::move(a.first);
    return out;
}

int64_t DispatchStore::write(const std::string& node, const std::map<std::string, std::string>& checks, int64_t term,
                             int64_t expected) {
    const std::string key = assign_prefix() + node;
    if (checks.empty()) return kv_.del(key, expected ? expected : HERD_KV_EXPECT_ANY);
    return kv_.put(key, encode(checks, term), expected ? expected : HERD_KV_EXPECT_ABSENT);
}

}  // namespace herd::dispatch

#include "sharding/config_store.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

namespace herd::sharding {

namespace {
void del_if_present(kv::KvClient& kv, const std::string& key) {
    try {
        kv.del(key);
    } catch (const kv::KvError& e) {
        if (e.status() != HERD_ERR_NOT_FOUND) throw;
    }
}

// The Grafana Agent's instance-config keys: accepted here (a sink may still refuse what it
// cannot honour, e.g. sink_prometheus and remote_write).
const std::set<std::string> kInstanceKeys = {"name",          "host_filter",          "host_filter_relabel_configs",
                                             "scrape_configs", "remote_write",        "wal_truncate_frequency",
                                             "min_wal_time",   "max_wal_time",        "remote_flush_deadline",
                                             "write_stale_on_shutdown"};
}  // namespace

std::string validate_config(const std::string& yaml, std::vector<std::string>* jobs) {
    YAML::Node doc;
    try {
        doc = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
        return std::string("not valid YAML: ") + e.what();
    }
    if (!doc.IsMap()) return "an instance config is a YAML mapping with scrape_configs";
    for (const auto& kv : doc)
        if (!kInstanceKeys.count(kv.first.Scalar())) return "unknown key \"" + kv.first.Scalar() + "\" in an instance config";
    const auto sc = doc["scrape_configs"];
    if (sc && !sc.IsSequence()) return "scrape_configs must be a list";
    std::set<std::string> seen;
    for (size_t i = 0; sc && i < sc.size(); ++i) {
        const auto name = sc[i].IsMap() ? sc[i]["job_name"] : YAML::Node();
        if (!name || !name.IsScalar() || name.Scalar().empty())
            return "scrape_configs[" + std::to_string(i) + "] has no job_name";
        if (!seen.insert(name.Scalar()).second) return "job_name \"" + name.Scalar() + "\" appears twice";
        if (jobs) jobs->push_back(name.Scalar());
    }
    return {};
}

ConfigStore::ConfigStore(kv::KvClient& kv, std::string prefix, uint64_t max_size)
    : kv_(kv), configs_(prefix + "configs/"), jobs_(prefix + "jobs/"), errors_(prefix + "errors/"), max_size_(max_size) {}

ConfigStore::PutResult ConfigStore::put(const std::string& name, const std::string& yaml) {
    if (yaml.size() > max_size_)
        return {413, "config over " + std::to_string(max_size_) + " bytes (max_config_size)"};
    std::vector<std::string> jobs;
    if (auto why = validate_config(yaml, &jobs); !why.empty()) return {400, why};
    // One lookup per job name in the index, not a read of every config.
    for (const auto& j : jobs)
        if (auto owner = kv_.get(jobs_ + j); owner && owner->value != name)
            return {400, "job_name \"" + j + "\" is already used by config \"" + owner->value + "\""};
    auto old = kv_.get(configs_ + name);
    std::vector<std::string> old_jobs;
    if (old) validate_config(old->value, &old_jobs);
    for (const auto& j : jobs) kv_.put(jobs_ + j, name);
    kv_.put(configs_ + name, yaml);
    for (const auto& j : old_jobs)
        if (std::find(jobs.begin(), jobs.end(), j) == jobs.end()) del_if_present(kv_, jobs_ + j);
    return {old ? 200 : 201, ""};
}

bool ConfigStore::del(const std::string& name) {
    auto old = kv_.get(configs_ + name);
    if (!old) return false;
    kv_.del(configs_ + name);
    std::vector<std::string> jobs;
    validate_config(old->value, &jobs);
    for (const auto& j : jobs)
        if (auto owner = kv_.get(jobs_ + j); owner && owner->value == name) del_if_present(kv_, jobs_ + j);
    del_if_present(kv_, errors_ + name);
    return true;
}

std::optional<std::string> ConfigStore::get(const std::string& name) {
    auto e = kv_.get(configs_ + name);
    if (!e) return std::nullopt;
    return e->value;
}

std::map<std::string, std::string> ConfigStore::all(int64_t* revision) {
    std::map<std::string, std::string> out;
    int64_t rev = kv_.list(configs_, [&](const kv::Entry& e) { out[e.key.substr(configs_.size())] = e.value; });
    if (revision) *revision = rev;
    return out;
}

std::vector<std::string> ConfigStore::names() {
    std::vector<std::string> out;
    for (const auto& [name, v] : all()) out.push_back(name);
    return out;
}

void ConfigStore::set_error(const std::string& name, const std::string& why) {
    if (why.empty()) del_if_present(kv_, errors_ + name);
    else kv_.put(errors_ + name, why);
}

std::map<std::string, std::string> ConfigStore::errors() {
    std::map<std::string, std::string> out;
    kv_.list(errors_, [&](const kv::Entry& e) { out[e.key.substr(errors_.size())] = e.value; });
    return out;
}

}  // namespace herd::sharding

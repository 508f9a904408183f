// Named scrape configs in the KV store — the Grafana Agent instance-config shape — with an index
// of job names so that "job_name unique across all configs" costs one lookup per job on a PUT,
// not a read of every config (agent#398).
//   <prefix>configs/<name>   the YAML as put
//   <prefix>jobs/<job_name>  the name of the config that has it
//   <prefix>errors/<name>    why the owner's agent refused it (written by the owner)
#pragma once

#include "kv/kv_client.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace herd::sharding {

// What is wrong with a config body, or "" — checked before anything is stored.
// jobs receives its job names.
std::string validate_config(const std::string& yaml, std::vector<std::string>* jobs);

class ConfigStore {
public:
    ConfigStore(kv::KvClient& kv, std::string prefix, uint64_t max_size);

    struct PutResult {
        int status = 200;  // 200 updated, 201 created, 400 invalid or a job name taken, 413 too large
        std::string error;
    };
    PutResult put(const std::string& name, const std::string& yaml);
    bool del(const std::string& name);  // false when absent
    std::optional<std::string> get(const std::string& name);
    // Every config, in one ranged read; *revision = the listing's revision.
    std::map<std::string, std::string> all(int64_t* revision = nullptr);
    std::vector<std::string> names();

    void set_error(const std::string& name, const std::string& why);  // "" clears it
    std::map<std::string, std::string> errors();

    const std::string& configs_prefix() const { return configs_; }

private:
    kv::KvClient& kv_;
    const std::string configs_, jobs_, errors_;
    const uint64_t max_size_;
};

}  // namespace herd::sharding

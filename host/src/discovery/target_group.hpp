// Prometheus target groups as herd passes them around: {source, targets[], labels{}}.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace herd::discovery {

using LabelSet = std::map<std::string, std::string>;

struct TargetGroup {
    std::string source;
    std::vector<LabelSet> targets;  // each has at least __address__
    LabelSet labels;
    bool operator==(const TargetGroup&) const = default;
};

// Parses the JSON array a discovery plugin sends. Throws std::invalid_argument naming the first
// problem ("group 2: target 0 has no __address__").
std::vector<TargetGroup> parse_groups(std::string_view json);

// As Prometheus file_sd JSON: [{"targets": ["h:p"], "labels": {...}}], with each target's own
// labels merged over the group's (what `herd sd` prints).
std::string to_file_sd_json(const std::vector<TargetGroup>& groups);

}  // namespace herd::discovery

// A complete Prometheus configuration from the user's base file plus the scrape configs a
// pipeline hands the sink. Debian's Prometheus is 2.42: `scrape_config_files` (2.43) does not
// exist there, so the file Prometheus reads is rendered whole — the base's global, rule_files,
// alerting, remote_write and its own scrape_configs exactly as written, the items' jobs after them.
#pragma once

#include <herd/sdk/kinds.hpp>

#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace herd::sink_prometheus {

// One scrape-config item, parsed: its jobs, in order.
struct ScrapeItem {
    std::string name;
    std::vector<std::string> jobs;
    std::string body;  // as received
    std::shared_ptr<const void> parsed;  // its YAML document, kept so rendering does not parse again
};

// Parses and checks the items (YAML, the instance-config shape: `scrape_configs` plus an optional
// `name`; every job with a job_name), and job_name unique across the items and the base file.
// Throws sdk::SinkRefused naming every item that is wrong, and both sides of a duplicate.
std::vector<ScrapeItem> parse_items(std::span<const sdk::SinkItemView> scrape_items, const std::string& base_yaml,
                                    const std::string& base_name);

// The rendered file: the base with the items' jobs appended to its scrape_configs (items in the
// order given). Quoted scalars stay quoted, so a value's type never changes on the way.
std::string render(const std::string& base_yaml, const std::vector<ScrapeItem>& items);

// The job names a base file defines.
std::vector<std::string> base_jobs(const std::string& base_yaml);

}  // namespace herd::sink_prometheus

// The host's view of a sink instance: the ABI's sink table as C++ calls. Every host component
// that hands a desired set to an agent (herd sink, sharding, dispatch) goes through this.
// Calls may block (files, reloads, the agent's confirmation): never make them from an I/O thread,
// and never concurrently on one instance.
#pragma once

#include "plugins/instance.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace herd::sink {

struct Item {
    std::string name, media_type, body;
    bool operator==(const Item&) const = default;
};

struct ApplyResult {
    herd_status status = HERD_OK;
    std::string message;                                      // the sink's overall message
    std::vector<std::pair<std::string, std::string>> refused;  // (item, why) the agent refused
    bool ok() const { return status == HERD_OK; }
};

// What a file name says about an item: "x.yml"/".yaml" a scrape config, ".json" target groups.
// nullopt for other endings.
std::optional<std::string> media_type_for_file(std::string_view file_name);

class SinkClient {
public:
    explicit SinkClient(const plugins::Instance& instance);
    ApplyResult apply(const std::vector<Item>& items);
    // What it holds; throws std::runtime_error with the sink's message.
    std::vector<Item> held();
    // Per-item load (a JSON object), nullopt when the sink does not report load.
    std::optional<std::string> load();

private:
    const plugins::Instance& instance_;
    const herd_sink_ops* ops_;
};

}  // namespace herd::sink

#include "sink/sink_client.hpp"

#include "plugins/host_services.hpp"

#include <herd/sdk/error.hpp>

#include <cctype>
#include <functional>
#include <stdexcept>

namespace herd::sink {

namespace {
std::string text(herd_str s) { return s.data ? std::string(s.data, s.size) : std::string(); }
constexpr herd_struct_header header(uint32_t size) { return {size, HERD_ABI_MAJOR, HERD_ABI_MINOR}; }
}  // namespace

std::optional<std::string> media_type_for_file(std::string_view f) {
    auto ends = [&](std::string_view e) { return f.size() > e.size() && f.substr(f.size() - e.size()) == e; };
    if (ends(".yml") || ends(".yaml")) return std::string(HERD_SINK_SCRAPE_CONFIG);
    if (ends(".json")) return std::string(HERD_SINK_TARGET_GROUPS);
    return std::nullopt;
}

SinkClient::SinkClient(const plugins::Instance& instance) : instance_(instance), ops_(instance.factory().sink) {
    if (!ops_) throw std::logic_error("SinkClient on an instance that is not a sink");
}

ApplyResult SinkClient::apply(const std::vector<Item>& items) {
    std::vector<herd_sink_item> abi(items.size());
    std::vector<const herd_sink_item*> ptrs(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
        abi[i] = {header(sizeof(herd_sink_item)), sdk::to_str(items[i].name), sdk::to_str(items[i].media_type), sdk::to_str(items[i].body)};
        ptrs[i] = &abi[i];
    }
    ApplyResult r;
    herd_sink_report report{header(sizeof(herd_sink_report)), &r, [](void* c, herd_str item, herd_str why) {
                                static_cast<ApplyResult*>(c)->refused.emplace_back(text(item), text(why));
                            }};
    plugins::ErrorCapture err;
    r.status = ops_->apply(instance_.handle(), ptrs.data(), ptrs.size(), &report, err.get());
    if (!r.ok()) r.message = err.set ? err.message : std::string("apply failed with ") + plugins::status_name(r.status);
    return r;
}

std::vector<Item> SinkClient::held() {
    std::vector<Item> out;
    herd_sink_item_sink sink{header(sizeof(herd_sink_item_sink)), &out, [](void* c, const herd_sink_item* i) {
                                 static_cast<std::vector<Item>*>(c)->push_back({text(i->name), text(i->media_type), text(i->body)});
                             }};
    plugins::ErrorCapture err;
    herd_status st = ops_->held(instance_.handle(), &sink, err.get());
    if (st != HERD_OK)
        throw std::runtime_error(err.set ? err.message : std::string("held failed with ") + plugins::status_name(st));
    return out;
}

std::optional<std::string> SinkClient::load() {
    if (!ops_->load) return std::nullopt;
    std::optional<std::string> out;
    herd_string_sink sink{header(sizeof(herd_string_sink)), &out,
                          [](void* c, herd_str v) { *static_cast<std::optional<std::string>*>(c) = text(v); }};
    plugins::ErrorCapture err;
    herd_status st = ops_->load(instance_.handle(), &sink, err.get());
    if (st == HERD_ERR_UNSUPPORTED) return std::nullopt;
    if (st != HERD_OK)
        throw std::runtime_error(err.set ? err.message : std::string("load failed with ") + plugins::status_name(st));
    return out;
}

}  // namespace herd::sink

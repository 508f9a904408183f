#include "informer.hpp"

#include <herd/sdk/error.hpp>

namespace herd::sd_k8s {

Informer::Informer(KubeClient& client, std::string path, std::string selectors, int watch_timeout_s, InformerHandler h)
    : client_(client), path_(std::move(path)), selectors_(std::move(selectors)), watch_timeout_s_(watch_timeout_s), h_(std::move(h)) {}

void Informer::run(sdk::WatchSet::Stop& stop) {
    using std::chrono::milliseconds;
    const milliseconds min_backoff(500), max_backoff(30000);
    milliseconds backoff = min_backoff;
    auto pause = [&] {
        const bool go_on = stop.sleep(backoff);
        backoff = std::min(backoff * 2, max_backoff);
        return go_on;
    };
    while (!stop.requested()) {
        std::string rv;
        try {
            KubeClient::ListResult l = client_.list(path_, selectors_, &stop.flag());
            Objects all;
            for (auto& item : l.items) all.emplace(object_key(item), std::move(item));
            rv = l.resource_version;
            h_.relisted(std::move(all));
        } catch (const sdk::Error& e) {
            if (stop.requested()) return;
            h_.error(std::string("list ") + path_ + ": " + e.what());
            if (!pause()) return;
            continue;
        }
        // Watch from the list's version until it expires; resume after normal ends and breaks.
        while (!stop.requested()) {
            try {
                const std::string q = (selectors_.empty() ? "" : selectors_ + "&") + "resourceVersion=" + query_escape(rv) +
                                      "&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(watch_timeout_s_);
                client_.watch(path_, q, [&](const json& ev) {
                    const std::string type = ev.value("type", "");
                    const json& o = ev["object"];
                    if (type == "ERROR") {
                        const int64_t code = o.is_object() ? o.value("code", int64_t(0)) : 0;
                        const std::string msg = o.is_object() ? o.value("message", "") : "";
                        throw sdk::Error(code == 410 ? HERD_ERR_COMPACTED : HERD_ERR_UNAVAILABLE,
                                         "watch " + path_ + ": ERROR event " + std::to_string(code) + ": " + msg);
                    }
                    if (!o.is_object()) throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "watch " + path_ + ": event without an object");
                    const std::string next = o.value("metadata", json::object()).value("resourceVersion", "");
                    if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") h_.event(type, o);
                    else if (type != "BOOKMARK")
                        throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "watch " + path_ + ": unknown event type \"" + type + "\"");
                    if (!next.empty()) rv = next;
                    backoff = min_backoff;  // the server is talking sense again
                }, stop.flag(), std::chrono::seconds(watch_timeout_s_ + 30));
                // timeoutSeconds passed: the server ended the watch; go on from the last version.
            } catch (const sdk::Error& e) {
                if (stop.requested()) return;
                if (e.status() == HERD_ERR_COMPACTED) {
                    h_.info(std::string(e.what()) + ": listing again");
                    break;  // relist
                }
                h_.error(std::string("watch ") + path_ + ": " + e.what());
                if (!pause()) return;
            }
        }
    }
}

}  // namespace herd::sd_k8s

// Helpers every discovery plugin needs: sending only the target groups that changed since the
// last update, withdrawing (an empty group) the sources that are gone.
#pragma once

#include <herd/sdk/kinds.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace herd::sdk {

class GroupPublisher {
public:
    // The whole current picture: sends the groups that changed and empty groups for the sources
    // no longer in it. The first call always sends (an empty picture is news too).
    void publish_all(const DiscoverySink& sink, std::vector<nlohmann::json> groups) {
        std::map<std::string, std::string> now;
        nlohmann::json changed = nlohmann::json::array();
        for (auto& g : groups) take(g, &now, &changed);
        for (const auto& [src, dump] : sent_)
            if (!now.count(src)) changed.push_back(empty(src));
        sent_ = std::move(now);
        send(sink, changed);
    }

    // Part of the picture: `groups` were rebuilt, `gone` sources vanished, the rest is unchanged.
    void publish_some(const DiscoverySink& sink, std::vector<nlohmann::json> groups, const std::vector<std::string>& gone) {
        std::map<std::string, std::string> now;
        nlohmann::json changed = nlohmann::json::array();
        for (auto& g : groups) take(g, &now, &changed);
        for (auto& [src, dump] : now) sent_[src] = std::move(dump);
        for (const auto& src : gone)
            if (sent_.erase(src)) changed.push_back(empty(src));
        send(sink, changed);
    }

    bool published() const { return published_; }

private:
    void take(nlohmann::json& g, std::map<std::string, std::string>* now, nlohmann::json* changed) const {
        const std::string src = g["source"].get<std::string>();
        std::string dump = g.dump();
        auto it = sent_.find(src);
        if (it == sent_.end() || it->second != dump) changed->push_back(std::move(g));
        (*now)[src] = std::move(dump);
    }
    static nlohmann::json empty(const std::string& src) {
        return {{"source", src}, {"targets", nlohmann::json::array()}, {"labels", nlohmann::json::object()}};
    }
    void send(const DiscoverySink& sink, const nlohmann::json& changed) {
        const bool first = !published_;
        published_ = true;
        if (!changed.empty() || first) sink.update(changed.dump());
        else sink.healthy();
    }

    std::map<std::string, std::string> sent_;  // source -> the group as last sent
    bool published_ = false;
};

}  // namespace herd::sdk

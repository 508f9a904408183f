#include "discovery/target_group.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace herd::discovery {

namespace {
LabelSet labels_of(const nlohmann::json& j, const std::string& where) {
    if (!j.is_object()) throw std::invalid_argument(where + " must be an object of strings");
    LabelSet out;
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_string()) throw std::invalid_argument(where + "." + it.key() + " must be a string");
        out[it.key()] = it.value().get<std::string>();
    }
    return out;
}
}  // namespace

std::vector<TargetGroup> parse_groups(std::string_view text) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
        throw std::invalid_argument(std::string("target groups are not valid JSON: ") + e.what());
    }
    if (!j.is_array()) throw std::invalid_argument("target groups must be a JSON array");
    std::vector<TargetGroup> out;
    for (size_t i = 0; i < j.size(); ++i) {
        const auto& g = j[i];
        const std::string where = "group " + std::to_string(i);
        if (!g.is_object()) throw std::invalid_argument(where + " is not an object");
        TargetGroup tg;
        auto s = g.find("source");
        if (s == g.end() || !s->is_string() || s->get<std::string>().empty())
            throw std::invalid_argument(where + " has no source");
        tg.source = s->get<std::string>();
        if (auto t = g.find("targets"); t != g.end() && !t->is_null()) {
            if (!t->is_array()) throw std::invalid_argument(where + ".targets must be an array");
            for (size_t k = 0; k < t->size(); ++k) {
                auto ls = labels_of((*t)[k], where + ".targets[" + std::to_string(k) + "]");
                if (ls["__address__"].empty())
                    throw std::invalid_argument(where + ".targets[" + std::to_string(k) + "] has no __address__");
                tg.targets.push_back(std::move(ls));
            }
        }
        if (auto l = g.find("labels"); l != g.end() && !l->is_null()) tg.labels = labels_of(*l, where + ".labels");
        out.push_back(std::move(tg));
    }
    return out;
}

std::string to_file_sd_json(const std::vector<TargetGroup>& groups) {
    auto out = nlohmann::json::array();
    for (const auto& g : groups) {
        for (const auto& t : g.targets) {
            LabelSet merged = g.labels;
            for (const auto& [k, v] : t) merged[k] = v;
            std::string addr = merged["__address__"];
            merged.erase("__address__");
            out.push_back({{"targets", {addr}}, {"labels", merged}});
        }
    }
    return out.dump(2);
}

}  // namespace herd::discovery

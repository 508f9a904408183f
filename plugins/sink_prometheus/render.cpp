#include "render.hpp"

#include <herd/sdk/error.hpp>

#include <yaml-cpp/yaml.h>

#include <map>

namespace herd::sink_prometheus {

namespace {

YAML::Node load(const std::string& text, const std::string& what) {
    try {
        YAML::Node n = YAML::Load(text);
        return n;
    } catch (const YAML::Exception& e) {
        throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, what + " is not valid YAML: " + e.what());
    }
}

// Writes a node as it was: maps and sequences in order, quoted scalars quoted (a "true" or "1e3"
// that was a string in the source must not become a bool or a number in Prometheus' reading).
void emit(YAML::Emitter& out, const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Map:
            out << YAML::BeginMap;
            for (const auto& kv : n) {
                out << YAML::Key;
                emit(out, kv.first);
                out << YAML::Value;
                emit(out, kv.second);
            }
            out << YAML::EndMap;
            break;
        case YAML::NodeType::Sequence:
            out << YAML::BeginSeq;
            for (const auto& v : n) emit(out, v);
            out << YAML::EndSeq;
            break;
        case YAML::NodeType::Scalar:
            if (n.Tag() == "!") out << YAML::DoubleQuoted << n.Scalar();
            else out << n.Scalar();
            break;
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            out << YAML::Null;
            break;
    }
}

std::vector<std::string> jobs_of(const YAML::Node& scrape_configs, const std::string& where,
                                 std::vector<std::pair<std::string, std::string>>* refused, const std::string& item) {
    std::vector<std::string> out;
    if (!scrape_configs) return out;
    if (!scrape_configs.IsSequence()) {
        if (refused) refused->emplace_back(item, "scrape_configs must be a list");
        else throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, where + ": scrape_configs must be a list");
        return out;
    }
    for (size_t i = 0; i < scrape_configs.size(); ++i) {
        const auto& job = scrape_configs[i];
        const auto name = job.IsMap() ? job["job_name"] : YAML::Node();
        if (!name || !name.IsScalar() || name.Scalar().empty()) {
            const std::string why = "scrape_configs[" + std::to_string(i) + "] has no job_name";
            if (refused) refused->emplace_back(item, why);
            else throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, where + ": " + why);
            continue;
        }
        out.push_back(name.Scalar());
    }
    return out;
}

}  // namespace

std::vector<std::string> base_jobs(const std::string& base_yaml) {
    auto base = load(base_yaml, "the base file");
    if (base && !base.IsMap() && !base.IsNull()) throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "the base file must be a YAML mapping");
    return base.IsMap() ? jobs_of(base["scrape_configs"], "the base file", nullptr, "") : std::vector<std::string>{};
}

std::vector<ScrapeItem> parse_items(std::span<const sdk::SinkItemView> scrape_items, const std::string& base_yaml,
                                    const std::string& base_name) {
    std::vector<std::pair<std::string, std::string>> refused;
    std::vector<ScrapeItem> out;
    std::map<std::string, std::string> owner;  // job -> item (or the base file)
    for (const auto& j : base_jobs(base_yaml)) owner.emplace(j, "");
    for (const auto& it : scrape_items) {
        const std::string name(it.name);
        YAML::Node doc;
        try {
            doc = YAML::Load(std::string(it.body));
        } catch (const YAML::Exception& e) {
            refused.emplace_back(name, std::string("not valid YAML: ") + e.what());
            continue;
        }
        if (!doc.IsMap()) {
            refused.emplace_back(name, "must be a YAML mapping with scrape_configs");
            continue;
        }
        bool ok = true;
        for (const auto& kv : doc) {
            const std::string key = kv.first.Scalar();
            if (key != "scrape_configs" && key != "name") {
                // remote_write, host_filter, ... belong to an agent instance, not to a shared Prometheus.
                refused.emplace_back(name, "key \"" + key + "\" cannot go into a shared Prometheus (only name and "
                                                             "scrape_configs)");
                ok = false;
            }
        }
        const size_t before = refused.size();
        auto jobs = jobs_of(doc["scrape_configs"], name, &refused, name);
        if (!ok || refused.size() != before) continue;
        for (const auto& j : jobs) {
            auto [at, fresh] = owner.emplace(j, name);
            if (fresh) continue;
            if (at->second.empty())
                refused.emplace_back(name, "job_name \"" + j + "\" is already a job of the base file " + base_name);
            else if (at->second == name)
                refused.emplace_back(name, "job_name \"" + j + "\" appears twice in it");
            else {
                refused.emplace_back(name, "job_name \"" + j + "\" is also in item \"" + at->second + "\"");
                refused.emplace_back(at->second, "job_name \"" + j + "\" is also in item \"" + name + "\"");
            }
        }
        out.push_back({name, std::move(jobs), std::string(it.body), std::make_shared<YAML::Node>(doc)});
    }
    if (!refused.empty()) {
        std::string msg = std::to_string(refused.size()) + " problem(s): ";
        for (size_t i = 0; i < refused.size() && i < 3; ++i)
            msg += (i ? "; " : "") + ("item \"" + refused[i].first + "\": " + refused[i].second);
        throw sdk::SinkRefused(HERD_ERR_INVALID_ARGUMENT, msg, std::move(refused));
    }
    return out;
}

std::string render(const std::string& base_yaml, const std::vector<ScrapeItem>& items) {
    YAML::Node base = load(base_yaml, "the base file");
    if (!base.IsMap()) base = YAML::Node(YAML::NodeType::Map);
    YAML::Emitter out;
    out << YAML::BeginMap;
    bool wrote_jobs = false;
    auto write_jobs = [&](const YAML::Node* own) {
        out << YAML::Key << "scrape_configs" << YAML::Value << YAML::BeginSeq;
        if (own && own->IsSequence())
            for (const auto& j : *own) emit(out, j);
        for (const auto& it : items) {
            const YAML::Node doc = it.parsed ? *static_cast<const YAML::Node*>(it.parsed.get()) : YAML::Load(it.body);
            for (const auto& j : doc["scrape_configs"]) emit(out, j);
        }
        out << YAML::EndSeq;
        wrote_jobs = true;
    };
    for (const auto& kv : base) {
        if (kv.first.Scalar() == "scrape_configs") {
            write_jobs(&kv.second);
            continue;
        }
        out << YAML::Key;
        emit(out, kv.first);
        out << YAML::Value;
        emit(out, kv.second);
    }
    if (!wrote_jobs) write_jobs(nullptr);
    out << YAML::EndMap;
    return std::string("# Rendered by herd's sink_prometheus from its base file and the scrape configs a pipeline\n"
                       "# owns. Edit the base file, not this one: it is rewritten on every change.\n") +
           out.c_str() + "\n";
}

}  // namespace herd::sink_prometheus

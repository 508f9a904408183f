#include "sd_file_config.hpp"

#include <herd/sdk/json_config.hpp>

#include <filesystem>

namespace herd::sd_file {

namespace {
std::string absolute(const std::string& p, const std::string& base) {
    std::filesystem::path path(p);
    if (path.is_relative() && !base.empty()) path = std::filesystem::path(base) / path;
    return path.lexically_normal().string();
}
}  // namespace

Config parse_config(std::string_view json, const std::string& config_dir) {
    sdk::JsonConfig in(json);
    Config c;
    if (auto t = in.strings("targets")) {
        for (size_t i = 0; i < t->size(); ++i)
            if (!valid_address((*t)[i]))
                throw sdk::ConfigError("targets[" + std::to_string(i) + "]",
                                       "\"" + (*t)[i] + "\" is not host:port (URLs go in an endpoints_file)");
        c.targets = *t;
    }
    if (auto e = in.string("endpoints_file")) {
        if (e->empty()) throw sdk::ConfigError("endpoints_file", "must not be empty");
        c.endpoints_file = absolute(*e, config_dir);
    }
    if (auto f = in.strings("files")) {
        for (size_t i = 0; i < f->size(); ++i) {
            const std::string& g = (*f)[i];
            const std::string key = "files[" + std::to_string(i) + "]";
            auto slash = g.rfind('/');
            // As in Prometheus: a glob may only appear in the last path segment.
            if (slash != std::string::npos && g.find_first_of("*?[", 0) < slash)
                throw sdk::ConfigError(key, "\"" + g + "\": a glob may only appear in the file name, not in directories");
            auto name = slash == std::string::npos ? g : g.substr(slash + 1);
            if (file_sd_format(name).empty()) throw sdk::ConfigError(key, "\"" + g + "\" must end in .json, .yml or .yaml");
            c.files.push_back(absolute(g, config_dir));
        }
    }
    if (auto scheme = in.string("name_validation_scheme")) {
        if (*scheme == "legacy") c.names = NameScheme::legacy;
        else if (*scheme != "utf8") throw sdk::ConfigError("name_validation_scheme", "\"" + *scheme + "\": utf8 or legacy");
    }
    if (auto l = in.table("labels")) {
        for (auto it = l->begin(); it != l->end(); ++it) {
            if (!valid_label_name(it.key(), c.names))
                throw sdk::ConfigError("labels." + it.key(), "\"" + it.key() + "\" is not a valid label name");
            if (!it->is_string()) throw sdk::ConfigError("labels." + it.key(), "must be a string");
            c.labels[it.key()] = it->get<std::string>();
        }
    }
    if (auto r = in.duration("refresh_interval")) {
        if (r->count() < 100) throw sdk::ConfigError("refresh_interval", "must be at least 100ms");
        c.refresh_interval = *r;
    }
    in.finish();
    if (c.targets.empty() && c.endpoints_file.empty() && c.files.empty())
        throw sdk::ConfigError("", "give at least one of targets, endpoints_file or files");
    return c;
}

}  // namespace herd::sd_file

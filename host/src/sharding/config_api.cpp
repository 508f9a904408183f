#include "sharding/config_api.hpp"

#include <nlohmann/json.hpp>

#include <cctype>

namespace herd::sharding {

namespace {
admin::Response envelope(int status, nlohmann::json data) {
    return {status, "application/json", nlohmann::json{{"status", "success"}, {"data", std::move(data)}}.dump() + "\n", {}};
}
admin::Response error(int status, const std::string& why) {
    return {status, "application/json",
            nlohmann::json{{"status", "error"}, {"data", {{"error", why}}}}.dump() + "\n", {}};
}
bool valid_name(const std::string& n) {
    if (n.empty() || n.size() > 253) return false;
    for (unsigned char c : n)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}
}  // namespace

bool url_decode(std::string_view in, std::string* out) {
    out->clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out->push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(in[i + 2])))
            return false;
        out->push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
    }
    return true;
}

std::optional<admin::Response> handle_config_api(ConfigStore& store, const admin::Request& req) {
    static const std::string list = "/agent/api/v1/configs", one = "/agent/api/v1/configs/", write = "/agent/api/v1/config/";
    const std::string& p = req.path;
    std::string raw;
    enum { kList, kGet, kWrite } route;
    if (p == list) route = kList;
    else if (p.rfind(one, 0) == 0) route = kGet, raw = p.substr(one.size());
    else if (p.rfind(write, 0) == 0) route = kWrite, raw = p.substr(write.size());
    else return std::nullopt;
    std::string name;
    if (route != kList && (!url_decode(raw, &name) || !valid_name(name)))
        return error(400, "invalid config name (1 to 253 bytes, no control characters)");
    try {
        if (route == kList) {
            if (req.method != "GET") return error(405, "use GET on " + list);
            return envelope(200, {{"configs", store.names()}});
        }
        if (route == kGet) {
            if (req.method != "GET") return error(405, "use GET to read a config, PUT/POST/DELETE on " + write + "{name}");
            auto v = store.get(name);
            if (!v) return error(404, "config \"" + name + "\" does not exist");
            nlohmann::json data{{"value", *v}};
            if (auto errs = store.errors(); errs.count(name)) data["error"] = errs[name];  // herd: the owner's agent refused it
            return envelope(200, data);
        }
        if (req.method == "PUT" || req.method == "POST") {
            auto r = store.put(name, req.body);
            if (!r.error.empty()) return error(r.status, r.error);
            return admin::Response{r.status, "application/json", R"({"status":"success"})" "\n", {}};
        }
        if (req.method == "DELETE") {
            if (!store.del(name)) return error(404, "config \"" + name + "\" does not exist");
            return admin::Response{200, "application/json", R"({"status":"success"})" "\n", {}};
        }
        return error(405, "use PUT, POST or DELETE on " + write + "{name}");
    } catch (const kv::KvError& e) {
        return error(e.status() == HERD_ERR_UNAVAILABLE || e.status() == HERD_ERR_TIMEOUT ? 503 : 500,
                     std::string("the store: ") + e.what());
    }
}

}  // namespace herd::sharding

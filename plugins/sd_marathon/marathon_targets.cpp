#include "marathon_targets.hpp"

#include "json_access.hpp"
#include "target_labels.hpp"

#include <vector>

namespace herd::sd_marathon {

using nlohmann::json;

namespace {

using jsonq::arr;
using jsonq::obj;
using jsonq::str;

uint32_t port_of(const json& j, const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_number_unsigned() ? it->get<uint32_t>() : 0;
}
using targets::sanitize_label_name;
std::string join_host_port(const std::string& host, uint32_t port) { return targets::join_host_port(host, std::to_string(port)); }

bool keep(const json& task, const TaskFilter& f) {
    if (f.running_only && str(task, "state") != "TASK_RUNNING") return false;
    if (f.healthy_only)
        for (const auto& h : arr(task, "healthCheckResults"))
            if (!h.value("alive", false)) return false;
    return true;
}

}  // namespace

json app_group(const json& app, const TaskFilter& filter) {
    const std::string id = str(app, "id");
    json g{{"source", id}, {"targets", json::array()}, {"labels", json::object()}};
    const json& container = obj(app, "container");
    g["labels"]["__meta_marathon_app"] = id;
    g["labels"]["__meta_marathon_image"] = str(obj(container, "docker"), "image");
    for (auto it = obj(app, "labels").begin(); it != obj(app, "labels").end(); ++it)
        g["labels"]["__meta_marathon_app_label_" + sanitize_label_name(it.key())] = it->is_string() ? it->get<std::string>() : it->dump();

    const json& networks = arr(app, "networks");
    const bool container_net = !networks.empty() && str(networks[0], "mode") == "container";
    std::vector<uint32_t> ports;
    std::vector<const json*> port_labels;
    std::string prefix;
    auto mappings = [&](const json& list) {  // container ports on a container network, else host ports
        for (const auto& m : list) {
            ports.push_back(port_of(m, container_net ? "containerPort" : "hostPort"));
            port_labels.push_back(&obj(m, "labels"));
        }
        prefix = "__meta_marathon_port_mapping_label_";
    };
    if (!arr(container, "portMappings").empty()) {
        mappings(arr(container, "portMappings"));  // Marathon 1.5+
    } else if (!arr(obj(container, "docker"), "portMappings").empty()) {
        mappings(arr(obj(container, "docker"), "portMappings"));  // before 1.5
    } else if (!arr(app, "portDefinitions").empty()) {
        const bool require = app.value("requirePorts", false);
        for (const auto& d : arr(app, "portDefinitions")) {
            ports.push_back(require ? port_of(d, "port") : 0);  // else it is the service port: the task's port counts
            port_labels.push_back(&obj(d, "labels"));
        }
        prefix = "__meta_marathon_port_definition_label_";
    }
    for (const auto& task : arr(app, "tasks")) {
        std::vector<uint32_t> task_ports;
        for (const auto& p : arr(task, "ports"))
            if (p.is_number_unsigned()) task_ports.push_back(p.get<uint32_t>());
        if (ports.empty() && !task_ports.empty()) ports = task_ports;  // host networking with bare ports
        if (!keep(task, filter)) continue;
        std::string host = str(task, "host");
        if (container_net && !arr(task, "ipAddresses").empty()) host = str(arr(task, "ipAddresses")[0], "ipAddress");
        for (size_t i = 0; i < ports.size(); ++i) {
            uint32_t port = ports[i];
            if (port == 0 && task_ports.size() == ports.size()) port = task_ports[i];  // assigned by Mesos
            json t{{"__address__", join_host_port(host, port)},
                   {"__meta_marathon_task", str(task, "id")},
                   {"__meta_marathon_port_index", std::to_string(i)}};
            if (i < port_labels.size())
                for (auto it = port_labels[i]->begin(); it != port_labels[i]->end(); ++it)
                    t[prefix + sanitize_label_name(it.key())] = it->is_string() ? it->get<std::string>() : it->dump();
            g["targets"].push_back(std::move(t));
        }
    }
    return g;
}

}  // namespace herd::sd_marathon

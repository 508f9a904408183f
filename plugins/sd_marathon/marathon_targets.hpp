// Marathon apps to Prometheus target groups, as Prometheus' marathon_sd makes them (reference:
// marathon-api.md, prometheus-sd-labels.md): one group per app (source = app id), one target per
// task and port, ports chosen by Prometheus' rules. Optional filters a better provider offers:
// only running tasks, only tasks whose health checks pass.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace herd::sd_marathon {

struct TaskFilter {
    bool running_only = false;  // state == TASK_RUNNING
    bool healthy_only = false;  // every health check result alive (tasks without checks pass)
};

// {"source": app id, "targets": [...], "labels": {...}}
nlohmann::json app_group(const nlohmann::json& app, const TaskFilter& filter = {});

}  // namespace herd::sd_marathon

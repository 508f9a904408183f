// Small pieces of server-rendered HTML shared by /status and the sections pipelines write into it.
#pragma once

#include <chrono>
#include <string>

namespace herd::admin {

std::string html_escape(const std::string& s);
std::string format_age(std::chrono::system_clock::duration d);  // "3m12s"
std::string when(std::chrono::system_clock::time_point t);      // "2026-12-01 10:00:00 UTC (3m ago)", "never"
// A coloured state label: green for running/healthy/ready/serving/eligible, orange for transitional states.
std::string badge(const std::string& state);

}  // namespace herd::admin

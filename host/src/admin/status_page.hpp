#pragma once
#include "runtime/status.hpp"

#include <string>

namespace herd::admin {
// The /status page: server-rendered HTML, no scripts, readable in any browser or with curl.
std::string render_status_page(const runtime::StatusSnapshot& s);
std::string html_escape(const std::string& s);
std::string format_age(std::chrono::system_clock::duration d);  // "3m12s"
}  // namespace herd::admin

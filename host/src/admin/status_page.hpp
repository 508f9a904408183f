#pragma once
#include "admin/html.hpp"
#include "admin/status_snapshot.hpp"

#include <string>

namespace herd::admin {
// The /status page: server-rendered HTML, no scripts, readable in any browser or with curl.
std::string render_status_page(const StatusSnapshot& s);
}  // namespace herd::admin

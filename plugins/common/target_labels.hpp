// Prometheus' conventions for target groups, shared by the discovery plugins.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace herd::targets {

// strutil.SanitizeLabelName: every character outside [a-zA-Z0-9_] becomes '_'.
inline std::string sanitize_label_name(std::string_view name) {
    std::string out(name);
    for (auto& c : out)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
    return out;
}

// net.JoinHostPort: IPv6 addresses in brackets.
inline std::string join_host_port(const std::string& host, const std::string& port) {
    return host.find(':') != std::string::npos ? "[" + host + "]:" + port : host + ":" + port;
}

}  // namespace herd::targets

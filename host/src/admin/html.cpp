#include "admin/html.hpp"

#include <ctime>

namespace herd::admin {

std::string html_escape(const std::string& s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            case '\'': o += "&#39;"; break;
            default: o += c;
        }
    }
    return o;
}

std::string format_age(std::chrono::system_clock::duration d) {
    long long s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s < 0) s = 0;
    std::string out;
    if (s >= 86400) out += std::to_string(s / 86400) + "d", s %= 86400;
    if (s >= 3600) out += std::to_string(s / 3600) + "h", s %= 3600;
    if (s >= 60) out += std::to_string(s / 60) + "m", s %= 60;
    if (out.empty() || s) out += std::to_string(s) + "s";
    return out;
}


std::string when(std::chrono::system_clock::time_point t) {
    if (t.time_since_epoch().count() == 0) return "never";
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return std::string(buf) + " (" + format_age(std::chrono::system_clock::now() - t) + " ago)";
}

std::string badge(const std::string& state) {
    const bool good = state == "running" || state == "healthy" || state == "ready" || state == "serving" ||
                      state == "eligible";
    const bool warn = state == "starting" || state == "stopped" || state == "selecting" || state == "no";
    return "<span class=\"badge " + std::string(good ? "ok" : warn ? "warn" : "bad") + "\">" + html_escape(state) + "</span>";
}


}  // namespace herd::admin

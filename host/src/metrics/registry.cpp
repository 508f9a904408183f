#include "metrics/registry.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace herd::metrics {

namespace {
bool name_char(char c, bool first, bool colon_ok) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
    return alpha || (!first && c >= '0' && c <= '9');
}
std::string escape_help(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '\\') o += "\\\\";
        else if (c == '\n') o += "\\n";
        else o += c;
    }
    return o;
}
}  // namespace

bool valid_metric_name(const std::string& n) {
    if (n.empty()) return false;
    for (size_t i = 0; i < n.size(); ++i)
        if (!name_char(n[i], i == 0, true)) return false;
    return true;
}

bool valid_label_name(const std::string& n) {
    if (n.empty() || n.rfind("__", 0) == 0) return false;
    for (size_t i = 0; i < n.size(); ++i)
        if (!name_char(n[i], i == 0, false)) return false;
    return true;
}

std::string escape_label_value(const std::string& s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        if (c == '\\') o += "\\\\";
        else if (c == '"') o += "\\\"";
        else if (c == '\n') o += "\\n";
        else o += c;
    }
    return o;
}

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        char b[32];
        std::snprintf(b, sizeof b, "%.0f", v);
        return b;
    }
    char b[40];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> labels)
    : name_(std::move(name)), help_(std::move(help)), type_(type), labels_(std::move(labels)) {}

Series& Family::with(const std::vector<std::string>& values) {
    if (values.size() != labels_.size())
        throw std::invalid_argument(name_ + ": expected " + std::to_string(labels_.size()) + " label values, got " +
                                    std::to_string(values.size()));
    std::lock_guard lk(mu_);
    auto& s = series_[values];
    if (!s) s = std::make_unique<Series>();
    return *s;
}

void Family::remove(const std::vector<std::string>& values) {
    std::lock_guard lk(mu_);
    series_.erase(values);
}

void Family::render(std::string& out) const {
    std::lock_guard lk(mu_);
    if (series_.empty()) return;
    out += "# HELP " + name_ + " " + escape_help(help_) + "\n";
    out += "# TYPE " + name_ + (type_ == Type::counter ? " counter\n" : " gauge\n");
    for (const auto& [values, s] : series_) {
        out += name_;
        if (!labels_.empty()) {
            out += '{';
            for (size_t i = 0; i < labels_.size(); ++i) {
                if (i) out += ',';
                out += labels_[i] + "=\"" + escape_label_value(values[i]) + "\"";
            }
            out += '}';
        }
        out += ' ' + format_value(s->value()) + '\n';
    }
}

Family& Registry::family(const std::string& name, const std::string& help, Type type,
                         const std::vector<std::string>& labels) {
    if (!valid_metric_name(name)) throw std::invalid_argument("\"" + name + "\" is not a valid metric name");
    for (const auto& l : labels)
        if (!valid_label_name(l)) throw std::invalid_argument("\"" + l + "\" is not a valid label name");
    std::lock_guard lk(mu_);
    auto& f = families_[name];
    if (!f) {
        f = std::make_unique<Family>(name, help, type, labels);
    } else if (f->type() != type || f->label_names() != labels) {
        throw std::invalid_argument("metric " + name + " is already registered with another type or labels");
    }
    return *f;
}

void Registry::on_collect(std::function<void()> fn) {
    std::lock_guard lk(mu_);
    collectors_.push_back(std::move(fn));
}

std::string Registry::render() const {
    std::vector<std::function<void()>> collectors;
    {
        std::lock_guard lk(mu_);
        collectors = collectors_;
    }
    for (auto& c : collectors) c();
    std::string out;
    std::lock_guard lk(mu_);
    for (const auto& [_, f] : families_) f->render(out);
    return out;
}

Registry& global() {
    static Registry r;
    return r;
}

}  // namespace herd::metrics

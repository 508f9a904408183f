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

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
    for (size_t i = 0; i <= bounds.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) noexcept {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<std::string> labels,
                                 std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)), bounds_(std::move(bounds)) {}

Histogram& HistogramFamily::with(const std::vector<std::string>& values) {
    if (values.size() != labels_.size()) throw std::invalid_argument(name_ + ": wrong number of label values");
    std::lock_guard lk(mu_);
    auto& h = series_[values];
    if (!h) h = std::make_unique<Histogram>(bounds_);
    return *h;
}

void HistogramFamily::remove(const std::vector<std::string>& values) {
    std::lock_guard lk(mu_);
    series_.erase(values);
}

void HistogramFamily::render(std::string& out) const {
    std::lock_guard lk(mu_);
    if (series_.empty()) return;
    out += "# HELP " + name_ + " " + escape_help(help_) + "\n# TYPE " + name_ + " histogram\n";
    for (const auto& [values, h] : series_) {
        std::string labels;
        for (size_t i = 0; i < labels_.size(); ++i) labels += labels_[i] + "=\"" + escape_label_value(values[i]) + "\",";
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= bounds_.size(); ++i) {
            cumulative += h->bucket(i);
            out += name_ + "_bucket{" + labels + "le=\"" + (i < bounds_.size() ? format_value(bounds_[i]) : "+Inf") +
                   "\"} " + std::to_string(cumulative) + "\n";
        }
        std::string plain = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
        out += name_ + "_sum" + plain + " " + format_value(h->sum()) + "\n";
        out += name_ + "_count" + plain + " " + std::to_string(h->count()) + "\n";
    }
}

std::vector<double> latency_buckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

HistogramFamily& Registry::histogram(const std::string& name, const std::string& help,
                                     const std::vector<std::string>& labels, const std::vector<double>& bounds) {
    if (!valid_metric_name(name)) throw std::invalid_argument("\"" + name + "\" is not a valid metric name");
    for (const auto& l : labels)
        if (!valid_label_name(l) || l == "le") throw std::invalid_argument("\"" + l + "\" is not a valid label name");
    std::lock_guard lk(mu_);
    if (families_.count(name)) throw std::invalid_argument("metric " + name + " is already registered as another type");
    auto& h = histograms_[name];
    if (!h) h = std::make_unique<HistogramFamily>(name, help, labels, bounds);
    else if (h->label_names() != labels || h->bounds() != bounds)
        throw std::invalid_argument("metric " + name + " is already registered with other labels or buckets");
    return *h;
}

Family& Registry::family(const std::string& name, const std::string& help, Type type,
                         const std::vector<std::string>& labels) {
    if (!valid_metric_name(name)) throw std::invalid_argument("\"" + name + "\" is not a valid metric name");
    for (const auto& l : labels)
        if (!valid_label_name(l)) throw std::invalid_argument("\"" + l + "\" is not a valid label name");
    std::lock_guard lk(mu_);
    if (histograms_.count(name)) throw std::invalid_argument("metric " + name + " is already registered as a histogram");
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
    for (const auto& [_, h] : histograms_) h->render(out);
    return out;
}

Registry& global() {
    static Registry r;
    return r;
}

}  // namespace herd::metrics

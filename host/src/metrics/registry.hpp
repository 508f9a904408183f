// One registry of herd_* metrics, rendered in the Prometheus text exposition format at /metrics.
// Series handles are stable for the process's life, so hot paths keep a pointer and update it
// with one atomic operation.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace herd::metrics {

enum class Type { counter, gauge };

class Series {
public:
    void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
    void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
    double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0.0};
};

class Family {
public:
    Family(std::string name, std::string help, Type type, std::vector<std::string> labels);
    const std::string& name() const { return name_; }
    const std::string& help() const { return help_; }
    Type type() const { return type_; }
    const std::vector<std::string>& label_names() const { return labels_; }

    // Throws std::invalid_argument when the number of values differs from the label names.
    Series& with(const std::vector<std::string>& values);
    // Forgets one series (e.g. an instance that was removed on reload).
    void remove(const std::vector<std::string>& values);
    void render(std::string& out) const;

private:
    std::string name_, help_;
    Type type_;
    std::vector<std::string> labels_;
    mutable std::mutex mu_;
    std::map<std::vector<std::string>, std::unique_ptr<Series>> series_;
};

// Cumulative buckets, lock-free to observe.
class Histogram {
public:
    explicit Histogram(const std::vector<double>& bounds);
    void observe(double v) noexcept;
    uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
    double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
    uint64_t bucket(size_t i) const noexcept { return buckets_[i].load(std::memory_order_relaxed); }  // not cumulative

private:
    const std::vector<double>& bounds_;
    std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // one per bound, then +Inf
    std::atomic<uint64_t> count_{0};
    std::atomic<double> sum_{0.0};
};

class HistogramFamily {
public:
    HistogramFamily(std::string name, std::string help, std::vector<std::string> labels, std::vector<double> bounds);
    const std::vector<std::string>& label_names() const { return labels_; }
    const std::vector<double>& bounds() const { return bounds_; }
    Histogram& with(const std::vector<std::string>& values);
    void remove(const std::vector<std::string>& values);
    void render(std::string& out) const;

private:
    std::string name_, help_;
    std::vector<std::string> labels_;
    std::vector<double> bounds_;
    mutable std::mutex mu_;
    std::map<std::vector<std::string>, std::unique_ptr<Histogram>> series_;
};

// Latency buckets from 1 ms to 60 s.
std::vector<double> latency_buckets();

class Registry {
public:
    HistogramFamily& histogram(const std::string& name, const std::string& help, const std::vector<std::string>& labels,
                               const std::vector<double>& bounds);
    // Finds or creates a family. Throws std::invalid_argument on an invalid name or label, or when
    // a family of that name exists with another type or other labels.
    Family& family(const std::string& name, const std::string& help, Type type,
                   const std::vector<std::string>& labels = {});
    Family& counter(const std::string& name, const std::string& help, const std::vector<std::string>& labels = {}) {
        return family(name, help, Type::counter, labels);
    }
    Family& gauge(const std::string& name, const std::string& help, const std::vector<std::string>& labels = {}) {
        return family(name, help, Type::gauge, labels);
    }
    // Called at every scrape, before rendering, to refresh values that are read rather than
    // counted (process stats, uptime).
    void on_collect(std::function<void()> fn);
    std::string render() const;

private:
    mutable std::mutex mu_;
    std::map<std::string, std::unique_ptr<Family>> families_;
    std::map<std::string, std::unique_ptr<HistogramFamily>> histograms_;
    std::vector<std::function<void()>> collectors_;
};

bool valid_metric_name(const std::string& name);
bool valid_label_name(const std::string& name);
std::string format_value(double v);
std::string escape_label_value(const std::string& v);

// The process's registry.
Registry& global();

}  // namespace herd::metrics

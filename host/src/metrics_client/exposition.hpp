// The Prometheus text exposition format (0.0.4), parsed completely: HELP and TYPE lines with their
// escapes, metric names, labels with escaped values, values including NaN and ±Inf, optional
// timestamps. What a metrics client needs to read a Prometheus server's own /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace herd::metrics_client {

using Labels = std::map<std::string, std::string>;

struct Sample {
    std::string name;
    Labels labels;
    double value = 0;
    std::optional<int64_t> timestamp_ms;
};

struct FamilyInfo {
    std::string type;  // counter, gauge, histogram, summary, untyped
    std::string help;
};

class ParseError : public std::runtime_error {
public:
    ParseError(size_t line, const std::string& what)
        : std::runtime_error("line " + std::to_string(line) + ": " + what), line_(line) {}
    size_t line() const { return line_; }

private:
    size_t line_;
};

class Exposition {
public:
    // Throws ParseError naming the line of the first problem.
    static Exposition parse(std::string_view text);

    const std::vector<Sample>& samples() const { return samples_; }
    const std::map<std::string, FamilyInfo>& families() const { return families_; }

    // The first sample of `name` whose labels include every pair of `want`.
    std::optional<double> value(std::string_view name, const Labels& want = {}) const;
    // Sum over every sample of `name` whose labels include `want` (nullopt if none).
    std::optional<double> sum(std::string_view name, const Labels& want = {}) const;

private:
    std::vector<Sample> samples_;
    std::map<std::string, FamilyInfo> families_;
};

}  // namespace herd::metrics_client

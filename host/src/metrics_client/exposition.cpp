#include "metrics_client/exposition.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace herd::metrics_client {

namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
bool label_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool label_char(char c) { return label_start(c) || (c >= '0' && c <= '9'); }

class LineParser {
public:
    LineParser(std::string_view line, size_t no) : s_(line), no_(no) {}

    [[noreturn]] void fail(const std::string& what) const { throw ParseError(no_, what); }
    bool done() const { return i_ >= s_.size(); }
    char peek() const { return done() ? '\0' : s_[i_]; }
    void skip_blanks() {
        while (!done() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
    }
    std::string_view rest() const { return s_.substr(i_); }

    std::string metric_name() {
        size_t start = i_;
        if (!name_start(peek())) fail("expected a metric name");
        while (!done() && name_char(s_[i_])) ++i_;
        return std::string(s_.substr(start, i_ - start));
    }

    std::string label_name() {
        size_t start = i_;
        if (!label_start(peek())) fail("expected a label name");
        while (!done() && label_char(s_[i_])) ++i_;
        return std::string(s_.substr(start, i_ - start));
    }

    // "..." with \\, \" and \n escapes.
    std::string quoted() {
        if (peek() != '"') fail("expected '\"' to open a label value");
        ++i_;
        std::string out;
        for (;;) {
            if (done()) fail("unterminated label value");
            char c = s_[i_++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (done()) fail("unterminated escape in label value");
            char e = s_[i_++];
            if (e == '\\') out += '\\';
            else if (e == '"') out += '"';
            else if (e == 'n') out += '\n';
            else fail(std::string("invalid escape \\") + e + " in label value");
        }
    }

    Labels labels() {
        Labels out;
        ++i_;  // '{'
        for (;;) {
            skip_blanks();
            if (peek() == '}') {
                ++i_;
                return out;
            }
            std::string name = label_name();
            skip_blanks();
            if (peek() != '=') fail("expected '=' after label name \"" + name + "\"");
            ++i_;
            skip_blanks();
            std::string value = quoted();
            if (!out.emplace(name, std::move(value)).second) fail("duplicate label \"" + name + "\"");
            skip_blanks();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            if (peek() != '}') fail("expected ',' or '}' in label set");
        }
    }

    std::string_view token() {
        size_t start = i_;
        while (!done() && s_[i_] != ' ' && s_[i_] != '\t') ++i_;
        return s_.substr(start, i_ - start);
    }

    double value() {
        std::string t(token());
        if (t.empty()) fail("expected a value");
        // Go's ParseFloat spellings, which Prometheus writes: NaN, +Inf, -Inf (any case).
        std::string lower;
        for (char c : t) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower == "nan") return NAN;
        if (lower == "+inf" || lower == "inf") return INFINITY;
        if (lower == "-inf") return -INFINITY;
        errno = 0;
        char* end = nullptr;
        double v = std::strtod(t.c_str(), &end);
        if (end != t.c_str() + t.size() || t.find_first_of("xXpP") != std::string::npos)
            fail("\"" + t + "\" is not a number");
        return v;
    }

    int64_t timestamp() {
        std::string t(token());
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(t.c_str(), &end, 10);
        if (t.empty() || end != t.c_str() + t.size() || errno == ERANGE) fail("\"" + t + "\" is not a timestamp");
        return v;
    }

private:
    std::string_view s_;
    size_t no_;
    size_t i_ = 0;
};

std::string unescape_help(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '\\' || s[i + 1] == 'n')) {
            out += s[i + 1] == 'n' ? '\n' : '\\';
            ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

bool contains(const Labels& have, const Labels& want) {
    for (const auto& [k, v] : want) {
        auto it = have.find(k);
        if (it == have.end() || it->second != v) return false;
    }
    return true;
}

}  // namespace

Exposition Exposition::parse(std::string_view text) {
    static const std::map<std::string, bool> kTypes{
        {"counter", true}, {"gauge", true}, {"histogram", true}, {"summary", true}, {"untyped", true}};
    Exposition out;
    size_t no = 0, pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        LineParser p(line, no);
        p.skip_blanks();
        if (p.done()) continue;
        if (p.peek() == '#') {
            // "# HELP name text" and "# TYPE name type" carry metadata; any other comment is ignored.
            std::string_view rest = p.rest().substr(1);
            while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
            bool help = rest.rfind("HELP", 0) == 0, type = rest.rfind("TYPE", 0) == 0;
            if (!(help || type) || rest.size() < 5 || (rest[4] != ' ' && rest[4] != '\t')) continue;
            LineParser m(rest.substr(5), no);
            m.skip_blanks();
            std::string name = m.metric_name();
            m.skip_blanks();
            std::string value(m.rest());
            auto& fam = out.families_[name];
            if (help) {
                fam.help = unescape_help(value);
            } else {
                while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
                if (!kTypes.count(value)) m.fail("unknown metric type \"" + value + "\"");
                fam.type = value;
            }
            continue;
        }
        Sample s;
        s.name = p.metric_name();
        p.skip_blanks();
        if (p.peek() == '{') s.labels = p.labels();
        p.skip_blanks();
        s.value = p.value();
        p.skip_blanks();
        if (!p.done()) s.timestamp_ms = p.timestamp();
        p.skip_blanks();
        if (!p.done()) p.fail("unexpected text after the sample");
        out.samples_.push_back(std::move(s));
    }
    return out;
}

std::optional<double> Exposition::value(std::string_view name, const Labels& want) const {
    for (const auto& s : samples_)
        if (s.name == name && contains(s.labels, want)) return s.value;
    return std::nullopt;
}

std::optional<double> Exposition::sum(std::string_view name, const Labels& want) const {
    std::optional<double> total;
    for (const auto& s : samples_)
        if (s.name == name && contains(s.labels, want)) total = total.value_or(0) + s.value;
    return total;
}

}  // namespace herd::metrics_client

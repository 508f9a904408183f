#include "proxy/wire.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <cctype>
#include <charconv>

namespace herd::proxy::wire {

namespace beast = boost::beast;

bool is_hop_by_hop(http::field f) {
    switch (f) {
        case http::field::connection:
        case http::field::keep_alive:
        case http::field::proxy_connection:
        case http::field::proxy_authenticate:
        case http::field::proxy_authorization:
        case http::field::te:
        case http::field::trailer:
        case http::field::transfer_encoding:
        case http::field::upgrade:
            return true;
        default:
            return false;
    }
}

namespace {

constexpr size_t kSmall = 8;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

void ConnectionTokens::clear() {
    small_.clear();
    large_.clear();
}

void ConnectionTokens::add(std::string_view value) {
    for (auto token : http::token_list(value)) {
        // close and keep-alive are framing, not field names; they need no lookup.
        if (beast::iequals(token, "close") || beast::iequals(token, "keep-alive")) continue;
        small_.push_back(token);
    }
}

void ConnectionTokens::finish() {
    if (small_.size() <= kSmall) return;
    large_.reserve(small_.size());
    for (auto t : small_) large_.insert(lower(t));
    small_.clear();
}

bool ConnectionTokens::listed(std::string_view name) const {
    if (!large_.empty()) {
        thread_local std::string key;
        key.assign(name);
        for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return large_.count(key) != 0;
    }
    for (auto t : small_)
        if (beast::iequals(t, name)) return true;
    return false;
}

namespace {

void append_number(std::string& out, uint64_t n) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, end);
}

void field(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

}  // namespace

void request_head(std::string& out, const Request& req, std::string_view host, std::string_view peer,
                  ConnectionTokens& tokens) {
    out.clear();
    out.append(req.method_string());
    out += ' ';
    out.append(req.target());
    out.append(" HTTP/1.1\r\n");
    field(out, "Host", host);
    tokens.collect(req);
    const bool has_connection = !tokens.empty();
    std::string_view xff;
    bool has_proto = false;
    for (const auto& f : req) {
        const auto name = f.name();
        if (is_hop_by_hop(name) || name == http::field::host || name == http::field::content_length ||
            name == http::field::expect)  // herd answered 100-continue itself
            continue;
        if (name == http::field::unknown && beast::iequals(f.name_string(), "X-Forwarded-For")) {
            xff = f.value();
            continue;
        }
        if (name == http::field::unknown && beast::iequals(f.name_string(), "X-Forwarded-Proto")) has_proto = true;
        if (has_connection && tokens.listed(f.name_string())) continue;
        field(out, f.name_string(), f.value());
    }
    out.append("X-Forwarded-For: ");
    if (!xff.empty()) {
        out.append(xff);
        out.append(", ");
    }
    out.append(peer);
    out.append("\r\n");
    if (!has_proto) field(out, "X-Forwarded-Proto", "http");
    const auto m = req.method();
    if (!req.body().empty() || m == http::verb::post || m == http::verb::put || m == http::verb::patch) {
        out.append("Content-Length: ");
        append_number(out, req.body().size());
        out.append("\r\n");
    }
    out.append("\r\n");
}

namespace {
// "HTTP/1.1 103 Early Hints\r\n" into an emptied buffer.
void status_line(std::string& out, const ResponseHeader& res) {
    out.clear();
    out.append("HTTP/1.1 ");
    append_number(out, res.result_int());
    out += ' ';
    auto reason = res.reason();
    out.append(reason.empty() ? http::obsolete_reason(res.result()) : reason);
    out.append("\r\n");
}
}  // namespace

void response_head(std::string& out, const ResponseHeader& res, Framing framing,
                   std::optional<uint64_t> content_length, bool keep_alive, std::string_view backend_id,
                   std::string_view extra_lines, ConnectionTokens& tokens) {
    status_line(out, res);
    tokens.collect(res);
    const bool has_connection = !tokens.empty();
    for (const auto& f : res) {
        const auto name = f.name();
        if (is_hop_by_hop(name)) continue;
        if (name == http::field::content_length && framing != Framing::upstream) continue;
        if (has_connection && tokens.listed(f.name_string())) continue;
        field(out, f.name_string(), f.value());
    }
    field(out, "X-Herd-Backend", backend_id);
    out.append(extra_lines);
    if (framing == Framing::length) {
        out.append("Content-Length: ");
        append_number(out, content_length.value_or(0));
        out.append("\r\n");
    } else if (framing == Framing::chunked) {
        out.append("Transfer-Encoding: chunked\r\n");
    }
    if (!keep_alive) out.append("Connection: close\r\n");
    out.append("\r\n");
}

void interim_head(std::string& out, const ResponseHeader& res, ConnectionTokens& tokens) {
    status_line(out, res);
    tokens.collect(res);
    for (const auto& f : res) {
        if (is_hop_by_hop(f.name()) || (!tokens.empty() && tokens.listed(f.name_string()))) continue;
        field(out, f.name_string(), f.value());
    }
    out.append("\r\n");
}

void chunk_size_line(std::string& out, size_t size) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, size, 16);
    out.assign(buf, end);
    out.append("\r\n");
}

}  // namespace herd::proxy::wire

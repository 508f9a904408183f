#include "proxy/wire.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

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

// Names listed in the Connection header are hop-by-hop too (RFC 9110 §7.6.1).
template <class Fields>
bool listed_in_connection(const Fields& f, std::string_view name) {
    auto c = f.find(http::field::connection);
    if (c == f.end()) return false;
    for (auto token : http::token_list(c->value()))
        if (beast::iequals(token, name)) return true;
    return false;
}

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

void request_head(std::string& out, const Request& req, std::string_view host, std::string_view peer) {
    out.clear();
    out.append(req.method_string());
    out += ' ';
    out.append(req.target());
    out.append(" HTTP/1.1\r\n");
    field(out, "Host", host);
    const bool has_connection = req.find(http::field::connection) != req.end();
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
        if (has_connection && listed_in_connection(req, f.name_string())) continue;
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

void response_head(std::string& out, const ResponseHeader& res, Framing framing,
                   std::optional<uint64_t> content_length, bool keep_alive, std::string_view backend_id,
                   std::string_view extra_lines) {
    out.clear();
    out.append("HTTP/1.1 ");
    append_number(out, res.result_int());
    out += ' ';
    auto reason = res.reason();
    out.append(reason.empty() ? http::obsolete_reason(res.result()) : reason);
    out.append("\r\n");
    const bool has_connection = res.find(http::field::connection) != res.end();
    for (const auto& f : res) {
        const auto name = f.name();
        if (is_hop_by_hop(name)) continue;
        if (name == http::field::content_length && framing != Framing::upstream) continue;
        if (has_connection && listed_in_connection(res, f.name_string())) continue;
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

void chunk_size_line(std::string& out, size_t size) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, size, 16);
    out.assign(buf, end);
    out.append("\r\n");
}

}  // namespace herd::proxy::wire

#include "http/request_rules.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <cctype>

namespace herd::http_rules {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

std::optional<Rejection> rejection_for_parse_error(const beast::error_code& ec) {
    using E = bhttp::error;
    if (ec == E::header_limit) return Rejection{431, "request header fields too large"};
    if (ec == E::body_limit) return Rejection{413, "request body too large"};
    if (ec == E::bad_method) return Rejection{400, "malformed request: invalid method token"};
    if (ec == E::bad_target) return Rejection{400, "malformed request: invalid request target"};
    if (ec == E::bad_version)  // HTTP/0.9, the HTTP/2 preface ("PRI * HTTP/2.0") and every other version
        return Rejection{400, "malformed request: HTTP/1.0 or HTTP/1.1 expected (HTTP/2 with prior knowledge is not "
                              "supported on this port)"};
    if (ec == E::bad_line_ending) return Rejection{400, "malformed request: lines must end with CRLF"};
    if (ec == E::bad_field) return Rejection{400, "malformed request: invalid header field name (no whitespace before ':')"};
    if (ec == E::bad_value) return Rejection{400, "malformed request: invalid character in a header field value"};
    if (ec == E::bad_content_length)
        return Rejection{400, "malformed request: invalid Content-Length (or Content-Length with Transfer-Encoding)"};
    if (ec == E::multiple_content_length) return Rejection{400, "malformed request: differing Content-Length values"};
    if (ec == E::bad_transfer_encoding)
        return Rejection{400, "malformed request: invalid Transfer-Encoding (repeated, or with Content-Length)"};
    if (ec == E::bad_chunk || ec == E::bad_chunk_extension) return Rejection{400, "malformed request: invalid chunk"};
    if (ec == E::bad_obs_fold) return Rejection{400, "malformed request: invalid line folding"};
    if (ec == E::bad_alloc) return Rejection{431, "request header fields too large"};
    // end_of_stream, partial_message, a reset or a timeout: the client is gone or silent.
    return std::nullopt;
}

std::optional<Rejection> check_request_line(std::string_view method, std::string_view target, unsigned version,
                                            std::string* origin_form) {
    // Beast refuses versions other than 1.0 and 1.1 itself (bad_version); these stay as the
    // rule's statement, should a parser ever let them through.
    if (method == "PRI" && target == "*" && version == 20)
        return Rejection{400, "HTTP/2 with prior knowledge is not supported on this port: use HTTP/1.1"};
    if (version != 10 && version != 11) return Rejection{505, "HTTP version not supported: use HTTP/1.1"};
    if (method == "CONNECT") return Rejection{405, "CONNECT is not supported: this is not a forward proxy"};
    if (target == "*") {
        if (method == "OPTIONS") return std::nullopt;
        return Rejection{400, "malformed request: the target \"*\" is for OPTIONS only"};
    }
    if (!target.empty() && target.front() == '/') return std::nullopt;
    // absolute-form: scheme "://" authority [path-abempty] ["?" query]
    auto colon = target.find("://");
    if (colon != std::string_view::npos && colon > 0) {
        auto scheme = target.substr(0, colon);
        if (beast::iequals(scheme, "http") || beast::iequals(scheme, "https")) {
            auto rest = target.substr(colon + 3);
            auto path_at = rest.find_first_of("/?");
            auto authority = rest.substr(0, path_at);
            if (authority.empty() || authority.find('@') != std::string_view::npos)
                return Rejection{400, "malformed request: invalid authority in an absolute-form target"};
            std::string path(path_at == std::string_view::npos ? std::string_view{} : rest.substr(path_at));
            if (path.empty() || path.front() == '?') path.insert(0, "/");
            if (origin_form) *origin_form = std::move(path);
            return std::nullopt;
        }
    }
    return Rejection{400, "malformed request: the target must be a path such as /api/v1/query"};
}

namespace {
// RFC 3986 reg-name / IP-literal / port characters: what a Host value may hold.
bool host_char(unsigned char c) {
    if (std::isalnum(c)) return true;
    switch (c) {
        case '-': case '.': case '_': case '~': case '%': case '!': case '$': case '&': case '\'': case '(':
        case ')': case '*': case '+': case ',': case ';': case '=': case ':': case '[': case ']':
            return true;
        default:
            return false;
    }
}
}  // namespace

void FieldRules::add(bhttp::field name, std::string_view value) {
    ++fields_;
    if (name == bhttp::field::host) {
        ++hosts_;
        for (unsigned char c : value) host_bad_ = host_bad_ || !host_char(c);
    } else if (name == bhttp::field::content_length) {
        has_length_ = true;
    } else if (name == bhttp::field::transfer_encoding) {
        has_te_ = true;
        for (auto coding : bhttp::token_list(value)) {
            // A coding's parameters ("gzip;q=1") do not change which coding it is.
            auto bare = coding.substr(0, coding.find(';'));
            if (beast::iequals(bare, "chunked")) {
                ++chunked_seen_;
                chunked_last_ = true;
            } else {
                if (!other_coding_) other_name_ = std::string(bare);
                other_coding_ = true;
                chunked_last_ = false;
            }
        }
        if (value.find_first_not_of(" \t,") == std::string_view::npos) other_coding_ = true, chunked_last_ = false;
    }
}

std::optional<Rejection> FieldRules::finish(unsigned version) {
    if (fields_ > limits_.max_header_fields)
        return Rejection{431, "too many request header fields (" + std::to_string(fields_) + ", at most " +
                                  std::to_string(limits_.max_header_fields) + ")"};
    if (version >= 11 && hosts_ == 0) return Rejection{400, "malformed request: HTTP/1.1 requires a Host header"};
    if (hosts_ > 1) return Rejection{400, "malformed request: more than one Host header"};
    if (host_bad_) return Rejection{400, "malformed request: invalid Host header"};
    if (!has_te_) return std::nullopt;
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means its framing is faulty.
    if (version < 11) return Rejection{400, "malformed request: Transfer-Encoding in an HTTP/1.0 request"};
    // §6.3: chunked not final → the body's length cannot be determined: 400 and close.
    if (!chunked_last_ || chunked_seen_ != 1)
        return Rejection{400, "malformed request: Transfer-Encoding must end with chunked, once"};
    if (has_length_) return Rejection{400, "malformed request: Content-Length with Transfer-Encoding"};
    if (other_coding_) return Rejection{501, "transfer coding \"" + other_name_ + "\" is not supported (only chunked)"};
    return std::nullopt;
}

}  // namespace herd::http_rules

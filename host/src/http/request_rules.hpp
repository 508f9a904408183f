// RFC 9112 rules for request heads that Beast's parser leaves to the application, shared by the
// proxy and the admin listener so both refuse the same things the same way.
//
// Beast already refuses (and rejection_for_parse_error names): a bad method token, whitespace
// before a colon, control characters in a value, bare LF line ends, versions other than HTTP/1.0
// and 1.1 (HTTP/0.9 and the HTTP/2 preface included), Content-Length and chunked together,
// differing Content-Lengths, bad chunk sizes. It accepts what these rules refuse: a
// Transfer-Encoding whose final coding is not chunked (Beast reads it as "no body", and the body
// would then be parsed as a further request — request smuggling), chunked twice, codings it
// cannot decode, a missing or doubled Host, targets that are not origin-form (absolute-form is
// rewritten), CONNECT, and any number of header fields.
//
// Everything here is linear in the size of the head: no field is compared with every other.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace herd::http_rules {

// A request refused before anything was done with it: the status to answer (then close).
struct Rejection {
    unsigned status = 400;
    std::string reason;  // for the answer's body and the log
};

struct RequestLimits {
    size_t max_header_fields = 100;
};

// The answer for a Beast parse error while reading a request: 400 for malformed input,
// 431 / 413 for the size limits. Errors that mean "the client went away" give nullopt: nobody to answer.
std::optional<Rejection> rejection_for_parse_error(const boost::beast::error_code& ec);

// Checks the request line (version, method, target form) and the transfer coding. Returns the
// rejection, or nullopt and, when the target is absolute-form, its origin-form in `origin_form`
// (RFC 9112 §3.2.2: the request goes on with that target; Host is replaced by the proxy anyway).
std::optional<Rejection> check_request_line(std::string_view method, std::string_view target, unsigned version,
                                            std::string* origin_form);

// Field-level rules, fed one field at a time, then finished.
class FieldRules {
public:
    explicit FieldRules(const RequestLimits& limits) : limits_(limits) {}
    void add(boost::beast::http::field name, std::string_view value);
    std::optional<Rejection> finish(unsigned version);

private:
    const RequestLimits& limits_;
    size_t fields_ = 0;
    int hosts_ = 0;
    bool host_bad_ = false;
    bool has_length_ = false;
    bool has_te_ = false;
    int chunked_seen_ = 0;     // how many "chunked" codings the Transfer-Encoding fields list
    bool chunked_last_ = false;
    bool other_coding_ = false;
    std::string other_name_;
};

// Both checks on a parsed head. On success, an absolute-form target has been rewritten in place.
template <class Fields>
std::optional<Rejection> check_request(boost::beast::http::request_header<Fields>& h, const RequestLimits& limits) {
    std::string origin;
    if (auto r = check_request_line(h.method_string(), h.target(), h.version(), &origin)) return r;
    FieldRules rules(limits);
    for (const auto& f : h) rules.add(f.name(), f.value());
    if (auto r = rules.finish(h.version())) return r;
    if (!origin.empty()) h.target(origin);
    return std::nullopt;
}

}  // namespace herd::http_rules

// Writing HTTP/1.1 heads for the proxy's hot path into one reused, contiguous buffer, instead of
// Beast's generic serializers: the forwarded request and the relayed response each leave in a
// single gathered write (head + body), and nothing is copied to rewrite headers.
#pragma once

#include "proxy/field_pool.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace herd::proxy::wire {

namespace http = boost::beast::http;

// The request head as the backend gets it: hop-by-hop headers (and those the Connection header
// lists) dropped, Host set to the backend, X-Forwarded-For extended with the peer,
// X-Forwarded-Proto added when absent, framing for the buffered body.
using Request = http::request<http::string_body, PooledFields>;
using ResponseHeader = http::response_header<PooledFields>;

// The names a message's Connection header(s) list (RFC 9110 §7.6.1: those fields are hop-by-hop
// too), collected once per message so that dropping them costs one lookup per field: comparing
// every field with every token let one 55 KB request (15 000 tokens x 5 000 fields) burn half a
// second of CPU. Reused across requests: it keeps its capacity.
class ConnectionTokens {
public:
    template <class Fields>
    void collect(const Fields& f) {
        clear();
        auto [first, last] = f.equal_range(http::field::connection);
        for (auto it = first; it != last; ++it) add(it->value());
        finish();
    }
    bool listed(std::string_view name) const;
    bool empty() const { return small_.empty() && large_.empty(); }

private:
    void clear();
    void add(std::string_view value);
    void finish();
    std::vector<std::string_view> small_;  // a handful: compared directly
    std::unordered_set<std::string> large_;  // many: lower-cased, hashed
};

void request_head(std::string& out, const Request& req, std::string_view host, std::string_view peer,
                  ConnectionTokens& tokens);

enum class Framing {
    length,    // Content-Length (known, or the whole body was read)
    chunked,   // Transfer-Encoding: chunked (an HTTP/1.1 client, length unknown)
    close,     // the body ends with the connection (an HTTP/1.0 client, length unknown)
    upstream,  // no body (HEAD, 204, 304, 1xx): the backend's Content-Length passes through
};

// The response head as the client gets it.
void response_head(std::string& out, const ResponseHeader& res, Framing framing,
                   std::optional<uint64_t> content_length, bool keep_alive, std::string_view backend_id,
                   std::string_view extra_lines,  // ready "Name: value\r\n" lines
                   ConnectionTokens& tokens);

// An interim (1xx) answer's head as an HTTP/1.1 client gets it: its own fields, hop-by-hop ones dropped.
void interim_head(std::string& out, const ResponseHeader& res, ConnectionTokens& tokens);

// "1a2b\r\n" — the size line of one chunk.
void chunk_size_line(std::string& out, size_t size);

bool is_hop_by_hop(http::field f);

}  // namespace herd::proxy::wire

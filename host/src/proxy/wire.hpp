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
#include <utility>
#include <vector>

namespace herd::proxy::wire {

namespace http = boost::beast::http;

// The request head as the backend gets it: hop-by-hop headers (and those the Connection header
// lists) dropped, Host set to the backend, X-Forwarded-For extended with the peer,
// X-Forwarded-Proto added when absent, framing for the buffered body.
using Request = http::request<http::string_body, PooledFields>;
using ResponseHeader = http::response_header<PooledFields>;

void request_head(std::string& out, const Request& req, std::string_view host, std::string_view peer);

enum class Framing {
    length,    // Content-Length (known, or the whole body was read)
    chunked,   // Transfer-Encoding: chunked (an HTTP/1.1 client, length unknown)
    close,     // the body ends with the connection (an HTTP/1.0 client, length unknown)
    upstream,  // no body (HEAD, 204, 304, 1xx): the backend's Content-Length passes through
};

// The response head as the client gets it.
void response_head(std::string& out, const ResponseHeader& res, Framing framing,
                   std::optional<uint64_t> content_length, bool keep_alive, std::string_view backend_id,
                   std::string_view extra_lines);  // ready "Name: value\r\n" lines

// "1a2b\r\n" — the size line of one chunk.
void chunk_size_line(std::string& out, size_t size);

bool is_hop_by_hop(http::field f);

}  // namespace herd::proxy::wire

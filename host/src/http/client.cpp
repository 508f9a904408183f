#include "http/client.hpp"

#include "util/host_port.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>
#include <optional>

namespace herd::http_client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Response call(const Request& req) {
    Response out;
    try {
        auto [host, port] = util::split_host_port(req.host_port);
        asio::io_context io;
        beast::tcp_stream stream(io);
        // Asio's synchronous calls ignore tcp_stream's deadline, so everything runs async on this
        // thread's own io_context and the deadline covers resolve, connect, write and read.
        beast::error_code result = asio::error::would_block;
        stream.expires_after(req.timeout);
        tcp::resolver resolver(io);
        http::request<http::string_body> r{http::string_to_verb(req.method), req.target, 11};
        r.set(http::field::host, req.host_port);
        r.set(http::field::user_agent, "herd");
        for (const auto& [k, v] : req.headers) r.set(k, v);
        if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
            r.body() = req.body;
            if (!req.content_type.empty()) r.set(http::field::content_type, req.content_type);
            r.prepare_payload();
        }
        r.keep_alive(false);
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(req.body_limit);
        auto done = [&](beast::error_code ec) { result = ec; };
        resolver.async_resolve(host, std::to_string(port), [&](beast::error_code ec, tcp::resolver::results_type res) {
            if (ec) return done(ec);
            stream.async_connect(res, [&](beast::error_code ec2, const tcp::endpoint&) {
                if (ec2) return done(ec2);
                http::async_write(stream, r, [&](beast::error_code ec3, size_t) {
                    if (ec3) return done(ec3);
                    http::async_read(stream, buffer, parser, [&](beast::error_code ec4, size_t) { done(ec4); });
                });
            });
        });
        io.run();
        if (result) {
            out.error = result == beast::error::timeout
                            ? "no answer from " + req.host_port + " within " + std::to_string(req.timeout.count()) + " ms"
                            : req.host_port + ": " + result.message();
            return out;
        }
        auto& res = parser.get();
        out.status = static_cast<int>(res.result_int());
        for (const auto& f : res) {
            std::string name(f.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            out.headers.emplace_back(std::move(name), std::string(f.value()));
        }
        out.content_type = std::string(res[http::field::content_type]);
        out.body = std::move(res.body());
    } catch (const std::exception& e) {
        out.status = 0;
        out.error = req.host_port + ": " + e.what();
    }
    return out;
}

}  // namespace herd::http_client

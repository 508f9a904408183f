#include "proxy/http_fetch.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace herd::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

asio::awaitable<FetchResult> http_get(std::string host, std::string port, std::string target,
                                      std::chrono::milliseconds timeout, size_t body_limit) {
    constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
    FetchResult r;
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    auto [rec, results] = co_await resolver.async_resolve(host, port, nothrow);
    if (rec) {
        r.error = "cannot resolve " + host + ": " + rec.message();
        co_return r;
    }
    beast::tcp_stream stream(ex);
    stream.expires_after(timeout);  // one deadline for the whole exchange
    auto [cec, ep] = co_await stream.async_connect(results, nothrow);
    if (cec) {
        r.error = cec == beast::error::timeout ? "connect timed out" : cec.message();
        co_return r;
    }
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host + ":" + port);
    req.set(http::field::user_agent, "herd");
    req.set(http::field::accept, "text/plain;version=0.0.4;q=1,*/*;q=0.1");
    auto [wec, wn] = co_await http::async_write(stream, req, nothrow);
    if (wec) {
        r.error = wec.message();
        co_return r;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    auto [rec2, rn] = co_await http::async_read(stream, buffer, parser, nothrow);
    if (rec2) {
        r.error = rec2 == beast::error::timeout       ? "no answer within " + std::to_string(timeout.count()) + " ms"
                  : rec2 == http::error::body_limit ? "answer larger than " + std::to_string(body_limit) + " bytes"
                                                    : rec2.message();
        co_return r;
    }
    r.status = static_cast<int>(parser.get().result_int());
    r.body = std::move(parser.get().body());
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return r;
}

}  // namespace herd::proxy

// The Grafana Agent's config API on herd's admin listener, drop-in, so its tooling (`agentctl
// config-sync`) works unchanged: the same paths, methods, status codes, envelope and name decoding.
//   GET    /agent/api/v1/configs              {"status":"success","data":{"configs":["a","b"]}}
//   GET    /agent/api/v1/configs/{name}       {"status":"success","data":{"value":"<YAML>"}}
//   PUT|POST /agent/api/v1/config/{name}      201 created / 200 updated; 400 invalid; 413 too large
//   DELETE /agent/api/v1/config/{name}        200; 404 missing
// Errors: {"status":"error","data":{"error":"…"}}. Any member accepts writes: they go to the store.
#pragma once

#include "admin/http_server.hpp"
#include "sharding/config_store.hpp"

#include <optional>

namespace herd::sharding {

// nullopt when the request is not one of the API's paths.
std::optional<admin::Response> handle_config_api(ConfigStore& store, const admin::Request& req);

// "hello%2Fworld" -> "hello/world"; false on a malformed escape.
bool url_decode(std::string_view in, std::string* out);

}  // namespace herd::sharding

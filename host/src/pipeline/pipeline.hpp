// The one interface every pipeline kind (proxy, sharding, dispatch) implements, and the only way
// the runtime reaches one: a table of factories by kind (runtime/pipelines.cpp). A pipeline gets
// the shared services through Context and never includes the runtime.
//
// Life of a pipeline: create (plugin instances made, nothing started) → start → stop (drains
// what is in flight). On reload an unchanged pipeline keeps running; a changed one is created and
// started *before* the one it replaces is stopped (start receives that one: a proxy takes over
// its listening sockets), so nothing is ever without its pipeline.
#pragma once

#include "admin/http_server.hpp"
#include "config/config.hpp"
#include "discovery/manager.hpp"
#include "metrics/registry.hpp"
#include "plugins/instance_builder.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace herd::pipeline {

// What the runtime lends a pipeline for its whole life.
struct Context {
    const config::Config& config;      // valid during create/check
    plugins::InstanceBuilder& builder;  // valid during create/check: makes its plugin instances (strategies, sinks)
    // valid for the pipeline's life:
    discovery::Manager& discovery;
    metrics::Registry& metrics;
};

struct Summary {
    std::string state;  // "serving", "selecting", "stopped", …
    bool ready = false;
    std::string not_ready_reason;  // when not ready: why, in a few words
};

class Pipeline {
public:
    virtual ~Pipeline() = default;
    // Starts serving. `replacing`: the running pipeline of the same kind and name that this one
    // replaces on reload (still running), or null. "" on success, else why it could not start.
    virtual std::string start(Pipeline* replacing) = 0;
    // Stops accepting work and finishes what is in flight (bounded). Idempotent.
    virtual void stop() = 0;
    virtual Summary summary() const = 0;
    // Its section of /status (HTML, headline included; everything escaped).
    virtual std::string status_html() const = 0;
    // Admin HTTP routes it contributes (e.g. an API on the admin listener); nullopt when the
    // request is not one of its routes. Called on the admin thread: must not block for long.
    virtual std::optional<admin::Response> handle(const admin::Request&) { return std::nullopt; }
};

struct Factory {
    std::string kind;  // the TOML array: "proxy" for [[proxy]]
    // Creates one pipeline (its plugin instances made, nothing started); null with *error set.
    std::unique_ptr<Pipeline> (*create)(const config::PipelineConfig& pc, Context& ctx, config::Diagnostic* error);
    // For `herd check`: creates (and destroys) what the pipeline would, starting nothing.
    config::Diagnostics (*check)(const config::PipelineConfig& pc, Context& ctx);
};

}  // namespace herd::pipeline

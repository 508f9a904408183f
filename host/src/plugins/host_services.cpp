#include "plugins/host_services.hpp"

#include "metrics/registry.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <string_view>
#include <vector>

namespace herd::plugins {

namespace {

std::string_view view(herd_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }

spdlog::level::level_enum to_spdlog(herd_log_level l) {
    switch (l) {
        case HERD_LOG_TRACE: return spdlog::level::trace;
        case HERD_LOG_DEBUG: return spdlog::level::debug;
        case HERD_LOG_INFO: return spdlog::level::info;
        case HERD_LOG_WARN: return spdlog::level::warn;
        default: return spdlog::level::err;
    }
}

HostServices* self(void* ctx) { return static_cast<HostServices*>(ctx); }

void log(void* ctx, herd_log_level level, herd_str message) {
    spdlog::log(to_spdlog(level), "[{}] {}", self(ctx)->log_name(), view(message));
}

herd_log_level log_level(void*) {
    switch (spdlog::get_level()) {
        case spdlog::level::trace: return HERD_LOG_TRACE;
        case spdlog::level::debug: return HERD_LOG_DEBUG;
        case spdlog::level::info: return HERD_LOG_INFO;
        case spdlog::level::warn: return HERD_LOG_WARN;
        default: return HERD_LOG_ERROR;
    }
}

int64_t now_unix_ns(void*) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int64_t monotonic_ns(void*) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

herd_metric_family* metric_family(void* ctx, const herd_metric_desc* d, herd_error_out* err) {
    auto fail = [err](const std::string& m) -> herd_metric_family* {
        if (err && err->set) err->set(err->ctx, herd_str{m.data(), m.size()});
        return nullptr;
    };
    if (!d || d->header.struct_size < sizeof(herd_metric_desc)) return fail("metric description too small");
    std::string name(view(d->name));
    if (name.rfind("herd_", 0) != 0) return fail("metric names must start with \"herd_\": " + name);
    if (d->type != HERD_METRIC_COUNTER && d->type != HERD_METRIC_GAUGE) return fail("unknown metric type");
    std::vector<std::string> labels;
    for (size_t i = 0; i < d->label_count; ++i) labels.emplace_back(view(d->label_names[i]));
    try {
        auto& f = self(ctx)->registry().family(name, std::string(view(d->help)),
                                               d->type == HERD_METRIC_COUNTER ? metrics::Type::counter
                                                                              : metrics::Type::gauge,
                                               labels);
        return reinterpret_cast<herd_metric_family*>(&f);
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}

herd_metric_series* metric_series(void*, herd_metric_family* family, const herd_str* values, size_t n) {
    auto* f = reinterpret_cast<metrics::Family*>(family);
    if (!f || n != f->label_names().size()) return nullptr;
    std::vector<std::string> v;
    for (size_t i = 0; i < n; ++i) v.emplace_back(view(values[i]));
    return reinterpret_cast<herd_metric_series*>(&f->with(v));
}

void metric_add(void*, herd_metric_series* s, double d) {
    if (s) reinterpret_cast<metrics::Series*>(s)->add(d);
}
void metric_set(void*, herd_metric_series* s, double v) {
    if (s) reinterpret_cast<metrics::Series*>(s)->set(v);
}

}  // namespace

HostServices::HostServices(std::string log_name, metrics::Registry& registry)
    : log_name_(std::move(log_name)), registry_(registry) {
    api_.header = {sizeof(herd_host_api), HERD_ABI_MAJOR, HERD_ABI_MINOR};
    api_.ctx = this;
    api_.log = &log;
    api_.log_level = &log_level;
    api_.now_unix_ns = &now_unix_ns;
    api_.monotonic_ns = &monotonic_ns;
    api_.metric_family = &metric_family;
    api_.metric_series = &metric_series;
    api_.metric_add = &metric_add;
    api_.metric_set = &metric_set;
}

ErrorCapture::ErrorCapture() {
    out.header = {sizeof(herd_error_out), HERD_ABI_MAJOR, HERD_ABI_MINOR};
    out.ctx = this;
    out.set = [](void* c, herd_str m) {
        auto* self = static_cast<ErrorCapture*>(c);
        self->message.assign(view(m));
        self->set = true;
    };
    out.set_at = [](void* c, herd_str k, herd_str m) {
        auto* self = static_cast<ErrorCapture*>(c);
        self->key.assign(view(k));
        self->message.assign(view(m));
        self->set = true;
    };
}

const char* status_name(herd_status s) noexcept {
    switch (s) {
        case HERD_OK: return "OK";
        case HERD_ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
        case HERD_ERR_NOT_FOUND: return "NOT_FOUND";
        case HERD_ERR_CONFLICT: return "CONFLICT";
        case HERD_ERR_UNAVAILABLE: return "UNAVAILABLE";
        case HERD_ERR_TIMEOUT: return "TIMEOUT";
        case HERD_ERR_UNSUPPORTED: return "UNSUPPORTED";
        case HERD_ERR_PERMISSION: return "PERMISSION";
        case HERD_ERR_TOO_LARGE: return "TOO_LARGE";
        case HERD_ERR_COMPACTED: return "COMPACTED";
        case HERD_ERR_INTERNAL: return "INTERNAL";
        default: return "UNKNOWN_STATUS";
    }
}

}  // namespace herd::plugins

#include "runtime/discovery_runner.hpp"

namespace herd::runtime {

namespace {
std::string_view view(herd_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }
DiscoveryRunner* self(void* ctx) { return static_cast<DiscoveryRunner*>(ctx); }
}  // namespace

DiscoveryRunner::DiscoveryRunner(std::unique_ptr<plugins::Instance> instance, discovery::Manager& manager)
    : instance_(std::move(instance)), manager_(manager) {
    sink_.header = {sizeof(herd_discovery_sink), HERD_ABI_MAJOR, HERD_ABI_MINOR};
    sink_.ctx = this;
    // The manager copies and validates what it is given; a bad payload is reported as an error of
    // this provider and the last good groups stay.
    sink_.update = [](void* c, herd_str json) { self(c)->manager_.update(self(c)->instance_->name(), view(json)); };
    sink_.error = [](void* c, herd_str m) { self(c)->manager_.report_error(self(c)->instance_->name(), view(m)); };
    sink_.healthy = [](void* c) { self(c)->manager_.report_healthy(self(c)->instance_->name()); };
}

DiscoveryRunner::~DiscoveryRunner() { stop(); }

std::string DiscoveryRunner::start() {
    manager_.add_provider(instance_->name());
    plugins::ErrorCapture err;
    herd_status st = instance_->factory().discovery->start(instance_->handle(), &sink_, err.get());
    if (st != HERD_OK) {
        std::string why = err.set ? err.message : std::string("start failed with ") + plugins::status_name(st);
        manager_.report_error(instance_->name(), why);
        return why;
    }
    started_ = true;
    return {};
}

void DiscoveryRunner::stop() {
    if (!started_) return;
    instance_->factory().discovery->stop(instance_->handle());
    started_ = false;
    manager_.remove_provider(instance_->name());
}

}  // namespace herd::runtime

// The Context a case runs in, and the helpers the cases share.
#include "conformance/suite.hpp"

#include <herd/sdk/kv_support.hpp>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace herd::conformance {

Context::Context(const Options& options, std::shared_ptr<plugins::LoadedPlugin> plugin, const herd_factory* factory,
                 std::filesystem::path data_dir)
    : options_(options), plugin_(std::move(plugin)), factory_(factory), data_dir_(std::move(data_dir)) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    prefix_ = "herd-conformance/" + std::to_string(::getpid()) + "-" +
              std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count()) + "/";
}

std::unique_ptr<plugins::Instance> Context::try_create(const std::string& config_json, plugins::CreateError* error,
                                                       const std::string& instance_name) {
    const auto config_dir = options_.config_dir.empty() ? std::filesystem::current_path() : options_.config_dir;
    return plugins::Instance::create(plugin_, factory_, instance_name, config_json, data_dir_, config_dir, error);
}

std::unique_ptr<plugins::Instance> Context::create(const std::string& instance_name) {
    plugins::CreateError error;
    auto inst = try_create(options_.config_json, &error, instance_name);
    require(inst != nullptr, "create() refused the given --config: " + std::string(status_text(error.status)) +
                                 (error.key.empty() ? "" : " at " + error.key) + ": " + error.message);
    return inst;
}

namespace {
void run_command(Context& c, const char* option, const std::string& command) {
    std::fflush(nullptr);
    const int status = std::system(command.c_str());
    c.require(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              std::string(option) + " \"" + command + "\" failed" +
                  (status != -1 && WIFEXITED(status) ? " with exit code " + std::to_string(WEXITSTATUS(status)) : ""));
}
}  // namespace

void Context::stop_server() {
    if (stop_hook) stop_hook();
    else run_command(*this, "--stop-command", options_.stop_command);
}
void Context::start_server() {
    if (start_hook) start_hook();
    else run_command(*this, "--start-command", options_.start_command);
}

const Case* find_case(herd_kind kind, std::string_view id) {
    static const std::vector<Case> all[6] = {{},
                                             cases_for(HERD_KIND_KV),
                                             cases_for(HERD_KIND_DISCOVERY),
                                             cases_for(HERD_KIND_SELECTOR),
                                             cases_for(HERD_KIND_AFFINITY),
                                             cases_for(HERD_KIND_SINK)};
    if (kind < 1 || kind > 5) return nullptr;
    for (const auto& c : all[kind])
        if (id == c.id) return &c;
    return nullptr;
}

bool run_here(const Case& c, Context& ctx) {
    try {
        c.run(ctx);
    } catch (const CaseEnded&) {
    } catch (const std::exception& e) {
        ctx.check(false, std::string("the case ended with an exception: ") + e.what());
    }
    return ctx.failures == 0;
}

void Context::emit(char type, std::string_view text) {
    const std::string line = nlohmann::json{{"t", std::string(1, type)}, {"m", std::string(text)}}.dump(
                                 -1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    if (report_fd < 0) {
        verdicts.push_back(std::string(1, type) + ": " + std::string(text));
        return;
    }
    for (size_t done = 0; done < line.size();) {
        const auto n = ::write(report_fd, line.data() + done, line.size() - done);
        if (n <= 0) return;
        done += static_cast<size_t>(n);
    }
}

void Context::check(bool ok, std::string_view what) {
    if (ok) return;
    ++failures;
    emit('F', what);
}

void Context::require(bool ok, std::string_view what) {
    if (ok) return;
    check(false, what);
    throw CaseEnded{};
}

void Context::note(std::string_view what) { emit('N', what); }

void Context::skip(std::string_view why) {
    emit('S', why);
    throw CaseEnded{};
}

void Context::lacks(std::string_view capability, std::string_view why) {
    if (options_.require.count(std::string(capability))) {
        check(false, std::string(why) + " (--require " + std::string(capability) + ")");
        throw CaseEnded{};
    }
    skip(why);
}

void Context::without(std::string_view capability, std::string_view what) {
    if (options_.require.count(std::string(capability)))
        check(false, std::string(what) + " (--require " + std::string(capability) + ")");
    else
        note(what);
}

size_t thread_count() {
    std::error_code ec;
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/task", ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec))
        ++n;
    return n;
}

std::string quote_key(std::string_view key) { return "\"" + sdk::printable_key(key) + "\""; }

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

const char* status_text(herd_status s) { return plugins::status_name(s); }

std::vector<Case> cases_for(herd_kind kind) {
    std::vector<Case> out = common_cases();
    std::vector<Case> more;
    switch (kind) {
        case HERD_KIND_KV:
            more = kv_cases();
            for (auto& c : kv_server_cases()) more.push_back(c);
            break;
        case HERD_KIND_DISCOVERY: more = discovery_cases(); break;
        case HERD_KIND_SELECTOR: more = selector_cases(); break;
        case HERD_KIND_AFFINITY: more = affinity_cases(); break;
        case HERD_KIND_SINK: more = sink_cases(); break;
        default: break;
    }
    out.insert(out.end(), more.begin(), more.end());
    return out;
}

}  // namespace herd::conformance

// Exceptions a plugin throws; the SDK's trampolines turn them into herd_status + message.
#pragma once

#include <herd/plugin_api.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace herd::sdk {

// Any failure with a status. Thrown from create/select/kv calls; never crosses the ABI.
class Error : public std::runtime_error {
public:
    Error(herd_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    herd_status status() const noexcept { return status_; }

private:
    herd_status status_;
};

// A configuration problem tied to a key, so the host can point at file:line:col.
// key is a path into the instance's table: "files", "files[2]", "tls.ca_file".
class ConfigError : public Error {
public:
    ConfigError(std::string key, const std::string& message)
        : Error(HERD_ERR_INVALID_ARGUMENT, message), key_(std::move(key)) {}
    const std::string& key() const noexcept { return key_; }

private:
    std::string key_;
};

inline herd_str to_str(std::string_view s) noexcept { return herd_str{s.data(), s.size()}; }
inline std::string_view to_view(herd_str s) noexcept {
    return s.data == nullptr ? std::string_view{} : std::string_view{s.data, s.size};
}

// Reports whatever was thrown into the host's error sink. Never throws.
inline herd_status report(herd_error_out* err) noexcept {
    auto say = [err](std::string_view m) {
        if (err && err->set) err->set(err->ctx, to_str(m));
    };
    try {
        throw;
    } catch (const ConfigError& e) {
        if (err && err->set_at)
            err->set_at(err->ctx, to_str(e.key()), to_str(e.what()));
        else
            say(e.key() + ": " + e.what());
        return e.status();
    } catch (const Error& e) {
        say(e.what());
        return e.status();
    } catch (const std::exception& e) {
        say(std::string("unexpected exception: ") + e.what());
        return HERD_ERR_INTERNAL;
    } catch (...) {
        say("unexpected exception of unknown type");
        return HERD_ERR_INTERNAL;
    }
}

}  // namespace herd::sdk

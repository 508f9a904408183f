// Helpers every KV plugin needs: the end of a prefix range, and a set of watch threads that are
// stopped and joined before unwatch() returns (the ABI's promise to the host).
#pragma once

#include <herd/plugin_api.h>
#include <herd/sdk/error.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace herd::sdk {

// The smallest key greater than every key starting with prefix ("a/b" -> "a/c"); "" when there is
// none (the prefix is empty or all 0xff): the range is unbounded.
inline std::string prefix_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        auto last = static_cast<unsigned char>(end.back());
        if (last < 0xff) {
            end.back() = static_cast<char>(last + 1);
            return end;
        }
        end.pop_back();  // 0xff carries over
    }
    return end;
}

// A key as people read it: printable ASCII as it is, every other byte as \xNN.
inline std::string printable_key(std::string_view key) {
    std::string out;
    for (unsigned char c : key) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// Runs f; an Error it throws comes out naming the key (unless its message already does), so
// every failure of a KV call says which key it was about.
template <class F>
auto naming_key(std::string_view key, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const Error& e) {
        const std::string named = "key \"" + printable_key(key) + "\"";
        if (std::string_view(e.what()).find(named) != std::string_view::npos) throw;
        throw Error(e.status(), named + ": " + e.what());
    }
}

// One thread per watch. The body gets a Stop it checks (or sleeps on) and returns when asked.
class WatchSet {
public:
    class Stop {
    public:
        bool requested() const { return flag_.load(); }
        // Sleeps up to d; false when stop was requested meanwhile.
        bool sleep(std::chrono::milliseconds d) {
            std::unique_lock lk(mu_);
            return !cv_.wait_for(lk, d, [this] { return flag_.load(); });
        }
        const std::atomic<bool>& flag() const { return flag_; }

    private:
        friend class WatchSet;
        void request() {
            {
                std::lock_guard lk(mu_);
                flag_ = true;
            }
            cv_.notify_all();
        }
        std::atomic<bool> flag_{false};
        std::mutex mu_;
        std::condition_variable cv_;
    };

    ~WatchSet() { stop_all(); }

    herd_kv_watch* start(std::function<void(Stop&)> body) {
        auto w = std::make_unique<Entry>();
        Entry* raw = w.get();
        raw->thread = std::thread([raw, body = std::move(body)] { body(raw->stop); });
        std::lock_guard lk(mu_);
        entries_.push_back(std::move(w));
        return reinterpret_cast<herd_kv_watch*>(raw);
    }

    // Stops and joins one watch; never call it from the watch's own thread.
    void stop(herd_kv_watch* handle) noexcept {
        std::unique_ptr<Entry> w;
        {
            std::lock_guard lk(mu_);
            for (auto it = entries_.begin(); it != entries_.end(); ++it)
                if (reinterpret_cast<herd_kv_watch*>(it->get()) == handle) {
                    w = std::move(*it);
                    entries_.erase(it);
                    break;
                }
        }
        if (w) finish(*w);
    }

    void stop_all() noexcept {
        std::list<std::unique_ptr<Entry>> all;
        {
            std::lock_guard lk(mu_);
            all.swap(entries_);
        }
        // Ask every thread first, then wait: a thread blocked in I/O may take a moment to notice
        // (libcurl looks at its abort callback about once a second), and they should not queue.
        for (auto& w : all) w->stop.request();
        for (auto& w : all) finish(*w);
    }

private:
    struct Entry {
        std::thread thread;
        Stop stop;
    };
    static void finish(Entry& w) {
        w.stop.request();
        if (w.thread.joinable()) w.thread.join();
    }
    std::mutex mu_;
    std::list<std::unique_ptr<Entry>> entries_;
};

}  // namespace herd::sdk

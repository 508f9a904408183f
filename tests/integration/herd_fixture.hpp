// A `herd run` process on a free admin port, in a temp directory, always stopped.
#pragma once

#include "support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <memory>

namespace herd::test {

class HerdRun {
public:
    // Writes herd.toml (with [host] admin/data_dir filled in before `rest`) and starts herd.
    // `wrapper`: a command herd runs under, e.g. {"sh", "-c", "ulimit -n 96 && exec \"$0\" \"$@\""}.
    explicit HerdRun(const std::string& rest, const std::string& host_extra = "",
                     std::vector<std::string> wrapper = {})
        : port_(free_port()) {
        write_config(rest, host_extra);
        auto argv = std::move(wrapper);
        for (auto a : {herd_binary().string(), std::string("run"), std::string("-c"), (dir_ / "herd.toml").string()})
            argv.push_back(a);
        proc_ = std::make_unique<Process>(argv, dir_.path(), "herd");
    }
    ~HerdRun() {
        if (proc_->running()) {
            proc_->signal(SIGTERM);
            proc_->wait(std::chrono::seconds(15));
        }
    }

    void write_config(const std::string& rest, const std::string& host_extra = "") {
        write_file(dir_ / "herd.toml", "[host]\nadmin = \"127.0.0.1:" + std::to_string(port_) + "\"\ndata_dir = \"" +
                                           (dir_ / "data").string() + "\"\n" + host_extra + "\n" + rest);
    }

    // Waits until herd answers on its admin port (ready or not).
    bool wait_serving() {
        return eventually([&] { return get("/-/healthy").status == 200 || !proc_->running(); }) && proc_->running();
    }
    bool wait_ready() { return eventually([&] { return get("/-/ready").status == 200; }); }
    HttpResponse get(const std::string& path) const { return http_get(port_, path); }
    std::optional<double> metric(const std::string& series) const { return test::metric(get("/metrics").body, series); }

    uint16_t port() const { return port_; }
    const TempDir& dir() const { return dir_; }
    Process& process() { return *proc_; }

private:
    TempDir dir_;
    uint16_t port_;
    std::unique_ptr<Process> proc_;
};

}  // namespace herd::test

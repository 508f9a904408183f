// Selector cases: the contract of herd_selector_ops as the proxy's selection loop and hot path rely
// on it — select() fills both arrays sensibly, pick() is safe from many threads and always in range.
#include "conformance/hot_path.hpp"
#include "conformance/suite.hpp"

#include <atomic>
#include <cmath>
#include <thread>

namespace herd::conformance {

namespace {

const herd_selector_ops& ops_of(Context& c) {
    const auto* ops = c.factory().selector;
    c.require(ops && ops->needs && ops->select && ops->pick, "the factory's selector table (needs, select, pick) is not set");
    return *ops;
}

struct Selection {
    herd_status status = HERD_OK;
    std::string message;
    std::vector<uint8_t> eligible;
    std::vector<double> score;
};

Selection select(const herd_selector_ops& ops, void* inst, const Backends& b) {
    Selection s;
    s.eligible.assign(b.stats.size(), 7);  // neither 0 nor 1: a backend select() skipped shows
    s.score.assign(b.stats.size(), -12345.0);
    auto ptrs = b.stat_ptrs();
    plugins::ErrorCapture err;
    s.status = ops.select(inst, ptrs.data(), ptrs.size(), s.eligible.data(), s.score.data(), err.get());
    s.message = err.message;
    return s;
}

void needs_and_select(Context& c) {
    const auto& ops = ops_of(c);
    auto inst = c.create();
    const uint32_t known = HERD_STAT_READY | HERD_STAT_START_TIME | HERD_STAT_HEAD_SAMPLES | HERD_STAT_STORAGE_BYTES |
                           HERD_STAT_LOWEST_TIMESTAMP;
    const uint32_t needs = ops.needs(inst->handle());
    c.check((needs & ~known) == 0, "needs() returned bits no host knows: " + std::to_string(needs & ~known));
    Backends b(6);
    auto s = select(ops, inst->handle(), b);
    c.require(s.status == HERD_OK, "select() over 6 ready backends: " + std::string(status_text(s.status)) + " " + s.message);
    size_t eligible = 0;
    for (size_t i = 0; i < s.eligible.size(); ++i) {
        c.check(s.eligible[i] == 0 || s.eligible[i] == 1,
                "eligible[" + std::to_string(i) + "] must be written as 0 or 1, it is " + std::to_string(s.eligible[i]));
        c.check(s.score[i] != -12345.0, "score[" + std::to_string(i) + "] was not written (NaN when meaningless)");
        eligible += s.eligible[i] == 1;
    }
    c.check(eligible >= 1, "with 6 ready backends at least one must be eligible");

    // A backend whose /-/ready failed must not be chosen.
    Backends half(6);
    for (size_t i = 0; i < 6; i += 2) half.stats[i].ready = 0;
    auto h = select(ops, inst->handle(), half);
    c.check(h.status == HERD_OK, "select() with 3 of 6 not ready: " + h.message);
    for (size_t i = 0; i < 6; i += 2)
        c.check(h.eligible[i] == 0, "backend " + std::to_string(i) + " is not ready, yet eligible");

    // Nothing gathered this round (present = 0): decide or refuse, never read what is not there.
    Backends none(3);
    for (auto& st : none.stats) {
        st.present = 0;
        st.ready = 0;
        st.start_time_s = st.head_samples = st.storage_bytes = st.lowest_timestamp_s = std::nan("");
    }
    auto n = select(ops, inst->handle(), none);
    for (size_t i = 0; i < n.eligible.size() && n.status == HERD_OK; ++i)
        c.check(n.eligible[i] == 0 || n.eligible[i] == 1, "with no statistics present, eligible must still be 0 or 1");
    Backends empty(0);
    auto e = select(ops, inst->handle(), empty);
    c.note("select() over no backend: " + std::string(status_text(e.status)));
}

void pick_concurrent(Context& c) {
    const auto& ops = ops_of(c);
    auto inst = c.create();
    Backends b(8);
    auto all = b.ptrs();
    std::atomic<long> out_of_range{0}, picks{0};
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            Request r("192.0.2." + std::to_string(t + 1), {{"cookie", "a=b"}, {"x-request", std::to_string(t)}});
            for (int i = 0; i < 20000; ++i) {
                const size_t count = 1 + static_cast<size_t>(i + t) % all.size();
                r.target = i % 2 ? "/api/v1/query_range?query=up" : "/federate";
                const size_t idx = ops.pick(inst->handle(), r.get(), all.data() + (i % 3 == 0 ? 0 : all.size() - count), count);
                if (idx >= count) ++out_of_range;
                ++picks;
            }
        });
    for (auto& th : threads) th.join();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    c.check(out_of_range == 0, std::to_string(out_of_range.load()) + " of " + std::to_string(picks.load()) +
                                   " picks returned an index outside the eligible list");
    c.note(std::to_string(picks.load()) + " picks from 8 threads, " + std::to_string(ns / std::max(1L, picks.load())) +
           " ns each (wall, 8 threads)");
}

void pick_one(Context& c) {
    const auto& ops = ops_of(c);
    auto inst = c.create();
    Backends b(1);
    auto one = b.ptrs();
    Request bare("");
    bare.method = "";
    bare.target = "";
    c.check(ops.pick(inst->handle(), bare.get(), one.data(), 1) == 0, "with one eligible backend pick() must return 0");
}

}  // namespace

std::vector<Case> selector_cases() {
    return {
        {"selector.select", "needs() names known statistics; select() writes every eligible (0/1) and score", needs_and_select},
        {"selector.pick_concurrent", "pick() from 8 threads at once, 160 000 times: always within the eligible list", pick_concurrent},
        {"selector.pick_one", "pick() over one backend, for a request with empty fields, returns 0", pick_one},
    };
}

}  // namespace herd::conformance

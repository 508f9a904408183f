// How a plugin calls one of the host's sinks (a watch's, a discovery provider's): the ABI promises
// one call at a time, and none once the sink's end has come (unwatch() or stop() returned). Each
// callback holds a Call for its duration; a case reads the counts afterwards.
#pragma once

#include <atomic>

namespace herd::conformance {

struct SinkCalls {
    std::atomic<int> in_call{0}, overlapping{0}, after_end{0};
    std::atomic<bool> ended{false};

    struct Call {
        SinkCalls& calls;
        explicit Call(SinkCalls& c) : calls(c) {
            if (calls.ended) ++calls.after_end;
            if (calls.in_call++ > 0) ++calls.overlapping;
        }
        ~Call() { --calls.in_call; }
        Call(const Call&) = delete;
        Call& operator=(const Call&) = delete;
    };

    void end() { ended = true; }  // the sink's lifetime is over: any later call is a breach
};

}  // namespace herd::conformance

// Header storage for the proxy's parsers without malloc: every I/O thread parses thousands of
// request and response heads a second, and Beast allocates each field separately — blocks of the
// same few sizes, over and over. A per-thread free list per 64-byte size class recycles them.
// (A block freed on another thread simply joins that thread's lists.)
#pragma once

#include <boost/beast/http/fields.hpp>

#include <array>
#include <cstddef>
#include <new>
#include <vector>

namespace herd::proxy {

class FieldPool {
public:
    static constexpr size_t kGranule = 64;
    static constexpr size_t kClasses = 16;        // blocks up to 1 KiB are recycled
    static constexpr size_t kKeepPerClass = 4096;

    ~FieldPool() {
        for (auto& list : free_)
            for (void* p : list) ::operator delete(p);
    }
    void* get(size_t bytes) {
        const size_t c = size_class(bytes);
        if (c >= kClasses) return ::operator new(bytes);
        auto& list = free_[c];
        if (!list.empty()) {
            void* p = list.back();
            list.pop_back();
            return p;
        }
        return ::operator new((c + 1) * kGranule);
    }
    void put(void* p, size_t bytes) noexcept {
        const size_t c = size_class(bytes);
        if (c >= kClasses || free_[c].size() >= kKeepPerClass) {
            ::operator delete(p);
            return;
        }
        try {
            free_[c].push_back(p);
        } catch (...) {
            ::operator delete(p);
        }
    }
    static FieldPool& local() {
        thread_local FieldPool pool;
        return pool;
    }

private:
    static size_t size_class(size_t bytes) { return bytes == 0 ? 0 : (bytes - 1) / kGranule; }
    std::array<std::vector<void*>, kClasses> free_;
};

template <class T>
struct PoolAllocator {
    using value_type = T;
    PoolAllocator() noexcept = default;
    template <class U>
    PoolAllocator(const PoolAllocator<U>&) noexcept {}
    T* allocate(size_t n) { return static_cast<T*>(FieldPool::local().get(n * sizeof(T))); }
    void deallocate(T* p, size_t n) noexcept { FieldPool::local().put(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const PoolAllocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const PoolAllocator<U>&) const noexcept { return false; }
};

using PooledFields = boost::beast::http::basic_fields<PoolAllocator<char>>;

}  // namespace herd::proxy

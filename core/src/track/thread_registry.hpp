// thread_registry.hpp - per-thread tracker state, and the registry of every thread that has one.
//
// Each thread has one "inside the API" word: 0 outside libnmapi, the key slot while it is inside
// a call on that key, kClaimsAnyKey while it holds claims on blocks of any key (a snapshot, a
// reclaim). A closer waits for the threads whose word names its key (quiesce); a heap destroy
// waits for every thread whose word is not 0 (wait_for_claims), so no claimed header is read from
// freed pages. A signal handler reads it (thread_in_api) and never creates the state.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "track/stack_depot.hpp"
#include "track/unwind.hpp"

namespace nm::track {

struct Lane;

inline constexpr uint32_t kClaimsAnyKey = 1u << 16;

struct ThreadState {
    std::atomic<uint32_t> in_api{0}; // see above; written by this thread only
    uint64_t serial = 0;
    StackBounds stack;
    // This thread's lanes by key handle, indexed by the handle's low bits (its slot's): a hit
    // proves the handle valid (only valid handles are stored), so the hot path neither decodes
    // it nor reads the key table. An empty entry i holds empty_handle(i), which no handle that
    // indexes entry i can equal.
    struct CacheEntry {
        uint64_t handle = 0;
        Lane *lane = nullptr;
    };
    static constexpr size_t kCacheSize = 64;
    static constexpr uint64_t empty_handle(size_t i) noexcept { return uint64_t(i ^ 1); }
    CacheEntry cache[kCacheSize];
    void clear_cache_entry(size_t i) noexcept { cache[i] = CacheEntry{empty_handle(i), nullptr}; }
    ThreadState() noexcept {
        for (size_t i = 0; i < kCacheSize; ++i) clear_cache_entry(i);
    }
    Lane *lanes = nullptr; // every lane this thread owns
    StackCache stacks;
};

// Every live ThreadState. Registration and the waits take one mutex; the hot path never does.
class ThreadRegistry {
public:
    void add(ThreadState *ts);
    void remove(ThreadState *ts);
    // Spins (yielding) until no other thread's word satisfies busy(word). The caller made its
    // own state change visible to all threads first (membarrier or a fence).
    template <class Busy> void wait_while(const ThreadState *self, Busy &&busy) {
        std::lock_guard<std::mutex> lock(mu_);
        for (ThreadState *ts : threads_) {
            if (ts == self) continue;
            for (unsigned spins = 0; busy(ts->in_api.load(std::memory_order_acquire)); ++spins)
                if (spins > 64) yield();
        }
    }
    uint64_t next_serial() noexcept { return next_serial_.fetch_add(1, std::memory_order_relaxed); }
    // Held across fork() so the child never inherits the lock taken.
    void fork_lock() noexcept { mu_.lock(); }
    void fork_unlock() noexcept { mu_.unlock(); }

private:
    static void yield() noexcept;
    std::mutex mu_;
    std::vector<ThreadState *> threads_;
    std::atomic<uint64_t> next_serial_{1};
};

} // namespace nm::track

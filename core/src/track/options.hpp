// options.hpp - the tracker's settings: capture depth, unwinder, and how calls are fenced.
#pragma once

#include <atomic>
#include <cstdint>

namespace nm::track {

// What a key's close does with the heap blocks its run left behind (still live, outside the API).
enum class ReclaimLeft : uint32_t {
    Keep = 0,        // list them, free none (the host may still hold them): the default
    Unreachable = 1, // free those a reachability pass finds nothing pointing to; list the rest
};

struct Options {
    std::atomic<uint32_t> depth{32}; // frames per stack; 0 = sizes only (NmSetStackDepth)
    bool use_libunwind = false;      // NMLEAK_UNWIND=libunwind (loaded)
    bool heavy_fence = false;        // no membarrier(2): every call pays a full fence instead
    std::atomic<ReclaimLeft> reclaim_left{ReclaimLeft::Keep}; // NMLEAK_RECLAIM_LEFT_BEHIND

    // NMLEAK_STACK_DEPTH, NMLEAK_UNWIND and NMLEAK_RECLAIM_LEFT_BEHIND, with a message on stderr for a bad value; registers
    // for membarrier(2).
    void load_from_environment() noexcept;
    // Makes this thread's earlier stores visible to every thread that is inside a call now: the
    // partner of the signal fence in each call's prologue.
    void barrier() const noexcept;
};

} // namespace nm::track

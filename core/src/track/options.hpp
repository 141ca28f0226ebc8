// options.hpp - the tracker's settings: capture depth, unwinder, and how calls are fenced.
#pragma once

#include <atomic>
#include <cstdint>

namespace nm::track {

struct Options {
    std::atomic<uint32_t> depth{32}; // frames per stack; 0 = sizes only (NmSetStackDepth)
    bool use_libunwind = false;      // NMLEAK_UNWIND=libunwind (loaded)
    bool heavy_fence = false;        // no membarrier(2): every call pays a full fence instead

    // NMLEAK_STACK_DEPTH and NMLEAK_UNWIND, with a message on stderr for a bad value; registers
    // for membarrier(2).
    void load_from_environment() noexcept;
    // Makes this thread's earlier stores visible to every thread that is inside a call now: the
    // partner of the signal fence in each call's prologue.
    void barrier() const noexcept;
};

} // namespace nm::track

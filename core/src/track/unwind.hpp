// unwind.hpp - call-stack capture for the allocation path.
//
// Default: a frame-pointer walk (about 13 ns for 16 frames here) that checks every frame pointer
// against the thread's stack bounds, so code built without frame pointers ends the walk early
// instead of crashing it. NMLEAK_UNWIND=libunwind switches to libunwind's DWARF unwinder (about
// 9x slower, exact through code without frame pointers). libunwind is dlopen'ed RTLD_LOCAL only
// then: linked normally, its weak `backtrace` could shadow glibc's for the whole process.
#pragma once

#include <cstddef>
#include <cstdint>

#include "track/stack_depot.hpp"

namespace nm::track {

struct StackBounds {
    uintptr_t lo = 0, hi = 0;
};

// The calling thread's stack [lo, hi).
StackBounds current_stack_bounds() noexcept;

struct Walk {
    uint32_t n = 0;    // frames stored
    uint64_t hash = 0; // stack_hash() of them, computed during the walk
};

// Walks frame pointers starting at `frame` (a frame built by a function compiled with frame
// pointers, normally __builtin_frame_address(0) of the exported API function): the first address
// stored is that function's return address, i.e. the call site in the caller. Hashes the frames
// as it stores them (one pass). Stops at a frame pointer outside [lo, hi - 16], misaligned, or not
// moving toward the stack base, and at a return address below 4096. Only the first frame pointer
// is compared with lo: every later one must lie above the one before.
inline Walk walk_frame_pointers(const void *frame, StackBounds b, uintptr_t *out, size_t max) noexcept {
    Walk w;
    uint64_t h = kStackHashSeed;
    uintptr_t fp = reinterpret_cast<uintptr_t>(frame);
    const uintptr_t top = b.hi - 2 * sizeof(uintptr_t); // highest frame whose two words fit
    if (max == 0 || b.hi < b.lo + 2 * sizeof(uintptr_t) || fp < b.lo || fp > top ||
        (fp & (sizeof(uintptr_t) - 1))) {
        w.hash = stack_hash_finish(h, 0);
        return w;
    }
    // Two frames per round (the frame pointer alternates between two variables instead of being
    // copied), each test its own branch, predicted not taken: no flag juggling on the way through.
    // The frame pointer moves strictly up, so the loop ends.
    uintptr_t *o = out, *const end = out + max;
    for (;;) {
        const uintptr_t *f = reinterpret_cast<const uintptr_t *>(fp);
        uintptr_t ret = f[1];
        const uintptr_t next = f[0];
        if (__builtin_expect(ret < 4096, 0)) break;
        *o++ = ret;
        h = stack_hash_step(h, ret);
        if (__builtin_expect(next > top, 0)) break;
        if (__builtin_expect(next <= fp, 0)) break;
        if (__builtin_expect(next & (sizeof(uintptr_t) - 1), 0)) break;
        if (__builtin_expect(o == end, 0)) break;
        f = reinterpret_cast<const uintptr_t *>(next);
        ret = f[1];
        fp = f[0];
        if (__builtin_expect(ret < 4096, 0)) break;
        *o++ = ret;
        h = stack_hash_step(h, ret);
        if (__builtin_expect(fp > top, 0)) break;
        if (__builtin_expect(fp <= next, 0)) break;
        if (__builtin_expect(fp & (sizeof(uintptr_t) - 1), 0)) break;
        if (__builtin_expect(o == end, 0)) break;
    }
    w.n = uint32_t(o - out);
    w.hash = stack_hash_finish(h, w.n);
    return w;
}

// libunwind's unw_backtrace, minus the frames inside libnmapi. 0 frames if libunwind is missing.
size_t unwind_with_libunwind(uintptr_t *out, size_t max) noexcept;
// Loads libunwind (once). False, with a message on stderr, if it cannot be loaded.
bool load_libunwind() noexcept;

} // namespace nm::track

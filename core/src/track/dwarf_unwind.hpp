// dwarf_unwind.hpp - call stacks through code built without frame pointers, from .eh_frame.
//
// The heap path cannot use a general unwinder: libunwind and libgcc take the loader's lock or
// allocate, and cost 100+ ns a stack. This one keeps, per return address, the rule that recovers
// the caller's registers (CFA = rsp or rbp + offset; return address and saved rbp at fixed offsets
// from the CFA) in a lock-free direct-mapped cache. A miss finds the FDE through _dl_find_object
// (lock-free, no allocation, glibc 2.35+) and the object's .eh_frame_hdr search table, and runs the
// CFA program up to the address. Rules it cannot express (expressions, a CFA in another register,
// signal frames) end the walk there, except that a frame with no unwind data at all falls back to
// its frame pointer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "track/unwind.hpp"

namespace nm::track {

struct UnwindRegs {
    uintptr_t pc = 0, sp = 0, fp = 0;
};

// The registers of the caller of a function built with frame pointers, at its return address,
// from that function's __builtin_frame_address(0). False if the frame is not on this stack.
inline bool caller_regs(const void *frame, StackBounds b, UnwindRegs &r) noexcept {
    const uintptr_t f = reinterpret_cast<uintptr_t>(frame);
    if (f < b.lo || f + 16 > b.hi || (f & 7)) return false;
    const uintptr_t *w = reinterpret_cast<const uintptr_t *>(f);
    r.fp = w[0];
    r.pc = w[1];
    r.sp = f + 16;
    return r.pc >= 4096;
}

// Writes r.pc and then the return address of each frame above it, at most `max` in all, and
// hashes them as it goes (Walk::hash is stack_hash() of what was written: one pass).
Walk unwind_dwarf(UnwindRegs r, StackBounds b, uintptr_t *out, size_t max) noexcept;

// Forgets every cached rule (after a dlclose: the addresses may hold other code now).
void unwind_cache_flush() noexcept;

} // namespace nm::track

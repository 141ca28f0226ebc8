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
// hashes them as it goes (Walk::hash is stack_hash() of what was written: one pass). Every word it
// reads lies between the current frame's stack pointer and b.hi (or, following a frame pointer
// where there is no unwind data, inside b): a wrong rule or a garbage stack ends the walk early or
// gives wrong frames, never a read outside the stack.
// Hidden: called only inside libnmapi, directly rather than through the PLT.
__attribute__((visibility("hidden"))) Walk unwind_dwarf(UnwindRegs r, StackBounds b, uintptr_t *out,
                                                        size_t max) noexcept;

// Forgets every cached rule (after a dlclose: the addresses may hold other code now).
void unwind_cache_flush() noexcept;

// How the caller's registers are recovered at one return address.
struct UnwindRule {
    enum class Kind : uint8_t {
        Stop,    // no usable rule (expressions, a CFA in another register, signal frames): stop
        FpChain, // no unwind data at all: follow the frame pointer
        Cfa,     // CFA = (cfa_fp ? rbp : rsp) + cfa_off; return address at CFA + ra_off;
                 // rbp saved at CFA + fp_off if fp_saved, else unchanged
    } kind = Kind::Stop;
    bool cfa_fp = false, fp_saved = false;
    uint32_t cfa_off = 0;
    int32_t fp_off = 0, ra_off = -8;
};

// The rule cache (the walk's fast path). Each return address has one 8-byte slot, indexed by its
// low kUnwindSlotBits bits and tagged with the rest, holding the whole rule: one atomic load, so a
// reader never sees half of an entry and needs no second look at the tag. A rule the slot cannot
// hold (return address not at CFA - 8, offsets not multiples of 8 or too large) goes to a small
// second table of full rules, and its slot says so; one that fits neither is computed each time.
inline constexpr unsigned kUnwindSlotBits = 15;
enum class UnwindCacheTier : uint8_t { None, Slot, Second };
// For tests: stores `rule` for return address `ra` as a miss of the walk would, and tells where
// the rule of `ra` is cached now.
void unwind_cache_store(uintptr_t ra, const UnwindRule &rule) noexcept;
UnwindCacheTier unwind_cache_tier(uintptr_t ra) noexcept;

} // namespace nm::track

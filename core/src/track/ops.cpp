// ops.cpp - the hot path: ExpertAllocMemory, ExpertReallocMemory, ExpertFreeMemory,
// ExpertMemorySize, and the misuse path they fall into for a bad pointer.
//
// Shape of every call: capture and intern the stack (allocations only), then a KeyCall scope:
// decode the key handle (numbers only), find this thread's lane for the key (a thread-local cache
// hit), mark the thread inside a call on the key, read the key's state. A pointer is trusted only
// after the live map says it starts a live block and this thread has claimed it (Live -> Claimed);
// then its header is checked (check_header). Figures go to the lane: no shared write per call.
#include <mimalloc.h>
#include <sched.h>

#include <cstring>

#include "netmon.h"
#include "track/tracker.hpp"
#include "track/tsan.hpp"

#define NM_LIKELY(x) __builtin_expect(!!(x), 1)
#define NM_UNLIKELY(x) __builtin_expect(!!(x), 0)

namespace nm::track {
namespace {

inline size_t block_bytes(uint64_t n) noexcept {
    // At least one byte past the header so every user pointer lies inside its own block, and a
    // multiple of 16 so mimalloc's size class keeps the user pointer 16-aligned.
    return (sizeof(BlockHeader) + (n ? n : 1) + 15) & ~size_t{15};
}

inline void set_err(uint32_t *err, uint32_t v) noexcept {
    if (err) *err = v;
}

inline uint32_t refusal(const KeyCall &c) noexcept {
    return c.state() == KeyCall::State::Terminating ? NMERR_EXPERT_TERMINATE : NMERR_INVALID_EXPERT_HANDLE;
}

} // namespace

mi_heap_s *Tracker::heap_of(Lane *lane) noexcept {
    if (NM_LIKELY(lane->heap)) return lane->heap;
    lane->heap = mi_heap_new();
    return lane->heap;
}

// The claim fast path (tracker.hpp) failed: the granule is not Live. Wait out another thread's
// short claim, or report what the map says (None / Freed) with nullptr.
__attribute__((noinline)) std::atomic<uint8_t> *Tracker::claim_slow(std::atomic<uint8_t> *g, uint8_t &seen) noexcept {
    for (unsigned spins = 0;; ++spins) {
        uint8_t v = g->load(std::memory_order_acquire);
        if (v == uint8_t(Granule::Live)) {
            if (g->compare_exchange_weak(v, uint8_t(Granule::Claimed), std::memory_order_acquire))
                return g;
            continue;
        }
        if (v != uint8_t(Granule::Claimed)) {
            seen = v;
            return nullptr;
        }
        // Another thread holds the claim for a few instructions (reading a header, a snapshot).
        if (spins > 64) sched_yield();
    }
}

// The four calls are defined always_inline and expanded into the exported functions at the end of
// this file: one function (one prologue) per call.
#define NM_HOT inline __attribute__((always_inline))

NM_HOT void *Tracker::alloc(void *handle, size_t n, uint32_t *err, const void *frame) noexcept {
    ThreadState *ts = thread_state();
    const uint32_t stack = capture_stack(frame, ts); // before the call is marked: see KeyCall
    KeyCall call(*this, ts, handle);
    if (NM_UNLIKELY(!call.open())) { set_err(err, refusal(call)); return nullptr; }
    if (NM_UNLIKELY(n > kMaxBlockSize)) { set_err(err, NMERR_OUT_OF_MEMORY); return nullptr; }
    Lane *lane = call.lane();
    mi_heap_s *heap = heap_of(lane);
    void *block = heap ? tsan_allocated(mi_heap_malloc(heap, block_bytes(n))) : nullptr;
    const uintptr_t user = reinterpret_cast<uintptr_t>(block) + sizeof(BlockHeader);
    std::atomic<uint8_t> *g = block ? map_.find_or_create(user) : nullptr;
    if (NM_UNLIKELY(!g)) {
        if (block) mi_free(block);
        set_err(err, NMERR_OUT_OF_MEMORY);
        return nullptr;
    }
    const uint64_t count = lane->allocs.load(std::memory_order_relaxed);
    if ((count & 63) == 0) lane->now_ms = uint32_t(now_ms());
    lane->allocs.store(count + 1, std::memory_order_relaxed);
    *header_of(user) = BlockHeader{stack, lane->now_ms, call.header_word(n)};
    g->store(uint8_t(Granule::Live), std::memory_order_release);
    lane->note_chunk(user);
    if (stack) lane->tally.add(stack, 1, int64_t(n)); // stack 0's group is derived at close
    lane->grow_bytes(int64_t(n));
    set_err(err, NMERR_SUCCESS);
    return reinterpret_cast<void *>(user);
}

NM_HOT uint32_t Tracker::free(void *handle, void *p, const void *frame) noexcept {
    ThreadState *ts = thread_state();
    KeyCall call(*this, ts, handle);
    if (NM_UNLIKELY(call.state() == KeyCall::State::Invalid)) return NMERR_INVALID_EXPERT_HANDLE;
    const uint32_t ok = call.open() ? NMERR_SUCCESS : NMERR_EXPERT_TERMINATE;
    const uintptr_t user = reinterpret_cast<uintptr_t>(p);
    if (!user) return ok;
    Lane *lane = call.lane();
    uint8_t seen;
    std::atomic<uint8_t> *g = claim(user, seen);
    MisuseKind bad;
    uint32_t owner = 0;
    if (NM_UNLIKELY(!g)) {
        bad = classify_bad_pointer(user, seen, owner);
    } else {
        const BlockHeader h = *header_of(user);
        const HeaderCheck c = call.check(h.word);
        if (NM_LIKELY(c == HeaderCheck::Ok)) {
            const uint64_t size = header_size(h.word);
            // Mark Freed before mi_free: afterwards the address may be handed out again and
            // marked Live by another thread, which our late store would overwrite.
            g->store(uint8_t(Granule::Freed), std::memory_order_release);
            Lane::bump(lane->frees);
            if (h.stack) lane->tally.add(header_stack_id(h.stack), -1, -int64_t(size));
            lane->sub_bytes(int64_t(size));
            tsan_freeing(header_of(user));
            mi_free(header_of(user));
            return ok;
        }
        unclaim(g);
        bad = misuse_of(c, h.word, owner);
    }
    Key *k = call.key();
    call.leave();
    record_misuse(k, bad, "ExpertFreeMemory", user, owner, frame, ts);
    return NMERR_INVALID_PARAMETER;
}

NM_HOT void *Tracker::realloc(void *handle, void *p, size_t n, uint32_t *err, const void *frame) noexcept {
    if (!p) return alloc_outlined(handle, n, err, frame);
    ThreadState *ts = thread_state();
    const uint32_t stack = capture_stack(frame, ts);
    KeyCall call(*this, ts, handle);
    if (NM_UNLIKELY(!call.open())) { set_err(err, refusal(call)); return nullptr; }
    Lane *lane = call.lane();
    const uintptr_t user = reinterpret_cast<uintptr_t>(p);
    uint8_t seen;
    std::atomic<uint8_t> *g = claim(user, seen);
    BlockHeader h{};
    MisuseKind bad{};
    uint32_t owner = 0;
    bool refused = !g;
    if (NM_UNLIKELY(!g)) {
        bad = classify_bad_pointer(user, seen, owner);
    } else {
        h = *header_of(user);
        const HeaderCheck c = call.check(h.word);
        if (NM_UNLIKELY(c != HeaderCheck::Ok)) {
            unclaim(g);
            refused = true;
            bad = misuse_of(c, h.word, owner);
        }
    }
    if (NM_UNLIKELY(refused)) {
        Key *k = call.key();
        call.leave();
        record_misuse(k, bad, "ExpertReallocMemory", user, owner, frame, ts);
        set_err(err, NMERR_INVALID_PARAMETER);
        return nullptr;
    }

    const uint64_t old_size = header_size(h.word);
    mi_heap_s *heap = n <= kMaxBlockSize ? heap_of(lane) : nullptr;
    if (NM_UNLIKELY(!heap)) {
        unclaim(g);
        set_err(err, NMERR_OUT_OF_MEMORY);
        return nullptr;
    }
    void *old_block = header_of(user);
    const size_t need = block_bytes(n);
    const size_t usable = mi_usable_size(old_block);
    const uint32_t t = lane->now_ms;
    void *result;
    if (need <= usable && need >= usable / 2) {
        // Fits where it is (mimalloc's own in-place rule); the block stays in its heap.
        *header_of(user) = BlockHeader{stack, t, call.header_word(n)};
        unclaim(g);
        result = p;
    } else {
        void *nb = tsan_allocated(mi_heap_malloc(heap, need));
        const uintptr_t nuser = reinterpret_cast<uintptr_t>(nb) + sizeof(BlockHeader);
        std::atomic<uint8_t> *ng = nb ? map_.find_or_create(nuser) : nullptr;
        if (NM_UNLIKELY(!ng)) {
            if (nb) mi_free(nb);
            unclaim(g);
            set_err(err, NMERR_OUT_OF_MEMORY);
            return nullptr;
        }
        std::memcpy(reinterpret_cast<void *>(nuser), p, old_size < n ? old_size : n);
        *header_of(nuser) = BlockHeader{stack, t, call.header_word(n)};
        ng->store(uint8_t(Granule::Live), std::memory_order_release);
        g->store(uint8_t(Granule::Freed), std::memory_order_release);
        tsan_freeing(old_block);
        mi_free(old_block);
        lane->note_chunk(nuser);
        result = reinterpret_cast<void *>(nuser);
    }
    Lane::bump(lane->reallocs);
    if (h.stack) lane->tally.add(header_stack_id(h.stack), -1, -int64_t(old_size));
    if (stack) lane->tally.add(stack, 1, int64_t(n));
    lane->add_bytes(int64_t(n) - int64_t(old_size));
    set_err(err, NMERR_SUCCESS);
    return result;
}

NM_HOT size_t Tracker::size_of(void *handle, void *p) noexcept {
    if (!p) return 0;
    ThreadState *ts = thread_state();
    KeyCall call(*this, ts, handle);
    if (call.state() == KeyCall::State::Invalid) return 0;
    uint8_t seen;
    const uintptr_t user = reinterpret_cast<uintptr_t>(p);
    std::atomic<uint8_t> *g = claim(user, seen);
    if (!g) return 0;
    const uint64_t word = header_of(user)->word;
    unclaim(g);
    return call.check(word) == HeaderCheck::Ok ? header_size(word) : 0;
}

__attribute__((noinline)) void *Tracker::alloc_outlined(void *handle, size_t n, uint32_t *err,
                                                       const void *frame) noexcept {
    return alloc(handle, n, err, frame);
}

// A live block whose header failed check_header: another key's block if the header checks out
// against the key its slot names, otherwise a header the expert overwrote.
__attribute__((noinline)) MisuseKind Tracker::misuse_of(HeaderCheck c, uint64_t word, uint32_t &owner_slot) noexcept {
    if (c != HeaderCheck::OtherSlot) return MisuseKind::CorruptHeader;
    const uint32_t slot = header_slot(word);
    Key *o = slot ? keys_.at(slot) : nullptr;
    if (o && check_header(word, slot, word_gen(o->word.load(std::memory_order_acquire))) == HeaderCheck::Ok) {
        owner_slot = slot;
        return MisuseKind::ForeignKey;
    }
    return MisuseKind::CorruptHeader;
}

// Tells a double free from an interior or unknown pointer. Looks back at most 64 KiB for a live
// block start whose extent covers p (claiming it to read its size safely).
__attribute__((noinline)) MisuseKind Tracker::classify_bad_pointer(uintptr_t p, uint8_t seen,
                                                                   uint32_t &owner_slot) noexcept {
    if (seen == uint8_t(Granule::Freed)) return MisuseKind::DoubleFree;
    const uintptr_t start = p & ~uintptr_t{15};
    for (uintptr_t a = start == p ? start - 16 : start; a + 65536 > p && a > 16; a -= 16) {
        std::atomic<uint8_t> *g = map_.find(a);
        if (!g) { a &= ~((uintptr_t{1} << LiveMap::kLeafShift) - 1); continue; } // skip an absent leaf
        uint8_t s;
        std::atomic<uint8_t> *c = claim(a, s);
        if (!c) continue;
        BlockHeader h = *header_of(a);
        unclaim(c);
        uint64_t extent = header_size(h.word) ? header_size(h.word) : 1;
        if (p < a + extent) {
            owner_slot = header_slot(h.word);
            return MisuseKind::InteriorPointer;
        }
        return MisuseKind::UnknownPointer; // the nearest block ends before p
    }
    return MisuseKind::UnknownPointer;
}

// Called after the call's scope ended: it may lock and capture a deep stack without holding up a
// closer. The key's slot cannot be reused meanwhile (Key objects are never freed).
__attribute__((noinline)) void Tracker::record_misuse(Key *k, MisuseKind kind, const char *fn, uintptr_t p,
                                                      uint32_t owner_slot, const void *frame,
                                                      ThreadState *ts) noexcept {
    const uint32_t depth = options_.depth.load(std::memory_order_relaxed);
    // Misuse is rare and its stack is the point of the report: captured even in sizes-only mode.
    const uint32_t stack = capture_stack(frame, ts, depth ? depth : 32);
    k->misuse_count.fetch_add(1, std::memory_order_relaxed);
    MisuseRecord r;
    r.key_id = k->id.load(std::memory_order_relaxed);
    r.time_ms = now_ms();
    r.kind = kind;
    r.function = fn;
    r.address = p;
    r.stack = stack;
    if (owner_slot && owner_slot < kMaxKeys) {
        if (Key *o = keys_.at(owner_slot)) {
            std::lock_guard<std::mutex> lock(o->mu);
            r.owner = o->name;
        }
    }
    history_.add_misuse(std::move(r));
}

} // namespace nm::track

// ---- the exported calls (netmon.h) --------------------------------------------------------------

#define NM_API extern "C" __attribute__((visibility("default")))

using nm::track::Tracker;

// Each function passes its own frame so the stack starts at its caller: the expert's call site.
NM_API LPVOID WINAPI ExpertAllocMemory(HEXPERTKEY hExpertKey, SIZE_T nBytes, LPDWORD pError) {
    LPVOID p = Tracker::hot().alloc(hExpertKey, nBytes, pError, __builtin_frame_address(0));
    if (__builtin_expect(nm::track::t_run_key != reinterpret_cast<uintptr_t>(hExpertKey), 0) && p)
        nm::track::adopt_run_key(hExpertKey, __builtin_return_address(0));
    return p;
}

NM_API LPVOID WINAPI ExpertReallocMemory(HEXPERTKEY hExpertKey, LPVOID pOriginalMemory, SIZE_T nBytes,
                                         LPDWORD pError) {
    return Tracker::hot().realloc(hExpertKey, pOriginalMemory, nBytes, pError, __builtin_frame_address(0));
}

NM_API SIZE_T WINAPI ExpertFreeMemory(HEXPERTKEY hExpertKey, LPVOID pMemory) {
    return Tracker::hot().free(hExpertKey, pMemory, __builtin_frame_address(0));
}

NM_API SIZE_T WINAPI ExpertMemorySize(HEXPERTKEY hExpertKey, LPVOID pOriginalMemory) {
    return Tracker::hot().size_of(hExpertKey, pOriginalMemory);
}

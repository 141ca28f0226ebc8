// ops.cpp - the hot path: ExpertAllocMemory, ExpertReallocMemory, ExpertFreeMemory,
// ExpertMemorySize, and the misuse path they fall into for a bad pointer.
//
// Shape of every call: decode the key handle (numbers only), find this thread's lane for the key
// (a thread-local cache hit), mark the lane busy, then read the key's state. Stacks are captured
// before anything is claimed. A pointer is trusted only after the live map says it starts a live
// block and this thread has claimed it (Live -> Claimed); then its header is read.
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

inline BlockHeader *header_of(uintptr_t user) noexcept {
    return reinterpret_cast<BlockHeader *>(user - sizeof(BlockHeader));
}

inline size_t block_bytes(uint64_t n) noexcept {
    // At least one byte past the header so every user pointer lies inside its own block, and a
    // multiple of 16 so mimalloc's size class keeps the user pointer 16-aligned.
    return (sizeof(BlockHeader) + (n ? n : 1) + 15) & ~size_t{15};
}


inline void set_err(uint32_t *err, uint32_t v) noexcept {
    if (err) *err = v;
}

} // namespace

uint64_t Tracker::enter(Lane *lane) noexcept {
    lane->busy.store(1, std::memory_order_relaxed);
    // Pairs with membarrier() in quiesce(): either the closer sees busy == 1 and waits, or we
    // see its Closing state. Without membarrier(2) we pay for a real fence here.
    if (NM_UNLIKELY(heavy_fence_)) std::atomic_thread_fence(std::memory_order_seq_cst);
    else std::atomic_signal_fence(std::memory_order_seq_cst);
    return lane->key->word.load(std::memory_order_acquire);
}

mi_heap_s *Tracker::heap_of(Lane *lane) noexcept {
    if (NM_LIKELY(lane->heap)) return lane->heap;
    lane->heap = mi_heap_new();
    return lane->heap;
}

uint32_t Tracker::capture(const void *frame, ThreadState *ts, uintptr_t *buf, uint32_t depth) noexcept {
    size_t n = use_libunwind_ ? unwind_with_libunwind(buf, depth) : walk_frame_pointers(frame, ts->stack, buf, depth);
    return depot_.intern(buf, uint32_t(n));
}

inline uint32_t Tracker::capture_stack(const void *frame, ThreadState *ts) noexcept {
    uint32_t depth = depth_.load(std::memory_order_relaxed);
    if (depth == 0) return 0;
    uintptr_t buf[StackDepot::kMaxDepth];
    return capture(frame, ts, buf, depth);
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

void Tracker::raise_peak(Key *k, int64_t now) noexcept {
    int64_t peak = k->peak_bytes.load(std::memory_order_relaxed);
    while (now > peak && !k->peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {}
}

inline void Tracker::account_bytes(Key *k, Lane *lane, int64_t delta) noexcept {
    if (__builtin_expect(!k->shared.load(std::memory_order_relaxed), 1)) {
        int64_t live = lane->solo_live.load(std::memory_order_relaxed) + delta;
        lane->solo_live.store(live, std::memory_order_relaxed);
        if (live > lane->solo_peak.load(std::memory_order_relaxed)) lane->solo_peak.store(live, std::memory_order_relaxed);
        return;
    }
    int64_t live = k->live_bytes.fetch_add(delta, std::memory_order_relaxed) + delta;
    if (delta > 0 && live > k->peak_bytes.load(std::memory_order_relaxed)) raise_peak(k, live);
}

int64_t Tracker::key_live_bytes(Key *k) const noexcept {
    if (k->shared.load(std::memory_order_acquire)) return k->live_bytes.load(std::memory_order_relaxed);
    Lane *l = k->lanes.load(std::memory_order_acquire);
    return l ? l->solo_live.load(std::memory_order_relaxed) : 0;
}

int64_t Tracker::key_peak_bytes(Key *k) const noexcept {
    if (k->shared.load(std::memory_order_acquire)) return k->peak_bytes.load(std::memory_order_relaxed);
    Lane *l = k->lanes.load(std::memory_order_acquire);
    return l ? l->solo_peak.load(std::memory_order_relaxed) : 0;
}

void *Tracker::alloc(void *handle, size_t n, uint32_t *err, const void *frame) noexcept {
    KeyHandle kh;
    Key *k = key_of(handle, kh);
    if (NM_UNLIKELY(!k)) { set_err(err, NMERR_INVALID_EXPERT_HANDLE); return nullptr; }
    ThreadState *ts = thread_state();
    Lane *lane = lane_for(ts, k, reinterpret_cast<uintptr_t>(handle), kh.gen);
    if (NM_UNLIKELY(!lane)) { set_err(err, NMERR_INVALID_EXPERT_HANDLE); return nullptr; }
    ts->in_api.store(1, std::memory_order_relaxed);
    uint64_t w = enter(lane);
    uint32_t code = NMERR_SUCCESS;
    void *result = nullptr;
    if (NM_UNLIKELY(word_gen(w) != kh.gen || word_state(w) != KeyState::Open)) {
        code = (word_gen(w) == kh.gen && word_state(w) == KeyState::Terminating) ? NMERR_EXPERT_TERMINATE
                                                                                 : NMERR_INVALID_EXPERT_HANDLE;
    } else if (NM_UNLIKELY(n > kMaxBlockSize)) {
        code = NMERR_OUT_OF_MEMORY;
    } else {
        uint32_t stack = capture_stack(frame, ts);
        mi_heap_s *heap = heap_of(lane);
        void *block = heap ? tsan_allocated(mi_heap_malloc(heap, block_bytes(n))) : nullptr;
        uintptr_t user = reinterpret_cast<uintptr_t>(block) + sizeof(BlockHeader);
        std::atomic<uint8_t> *g = block ? map_.find_or_create(user) : nullptr;
        if (NM_UNLIKELY(!g)) {
            if (block) mi_free(block);
            code = NMERR_OUT_OF_MEMORY;
        } else {
            uint64_t count = lane->allocs.load(std::memory_order_relaxed);
            if ((count & 63) == 0) lane->now_ms = uint32_t(now_ms());
            lane->allocs.store(count + 1, std::memory_order_relaxed);
            *header_of(user) = BlockHeader{stack, lane->now_ms, header_word(n, kh.slot, kh.gen)};
            g->store(uint8_t(Granule::Live), std::memory_order_release);
            lane->note_chunk(user);
            lane->blocks_in.store(lane->blocks_in.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            if (stack) lane->tally.add(stack, 1, int64_t(n)); // stack 0's group is derived at close
            account_bytes(k, lane, int64_t(n));
            result = reinterpret_cast<void *>(user);
        }
    }
    leave(lane);
    ts->in_api.store(0, std::memory_order_release);
    set_err(err, code);
    return result;
}

uint32_t Tracker::free(void *handle, void *p, const void *frame) noexcept {
    KeyHandle kh;
    Key *k = key_of(handle, kh);
    if (NM_UNLIKELY(!k)) return NMERR_INVALID_EXPERT_HANDLE;
    ThreadState *ts = thread_state();
    Lane *lane = lane_for(ts, k, reinterpret_cast<uintptr_t>(handle), kh.gen);
    if (NM_UNLIKELY(!lane)) return NMERR_INVALID_EXPERT_HANDLE;
    ts->in_api.store(1, std::memory_order_relaxed);
    uint64_t w = enter(lane);
    uint32_t code = NMERR_SUCCESS;
    const bool terminating = word_state(w) == KeyState::Terminating;
    if (NM_UNLIKELY(word_gen(w) != kh.gen || (word_state(w) != KeyState::Open && !terminating))) {
        leave(lane);
        ts->in_api.store(0, std::memory_order_release);
        return NMERR_INVALID_EXPERT_HANDLE;
    }
    const uintptr_t user = reinterpret_cast<uintptr_t>(p);
    MisuseKind bad{};
    uint32_t owner = 0;
    bool refused = false;
    if (user) {
        uint8_t seen;
        std::atomic<uint8_t> *g = claim(user, seen);
        BlockHeader h{};
        if (NM_LIKELY(g)) h = *header_of(user);
        if (NM_UNLIKELY(!g)) {
            refused = true;
            bad = classify_bad_pointer(user, seen, owner);
        } else if (NM_UNLIKELY(header_slot(h.word) != kh.slot)) {
            unclaim(g);
            refused = true;
            bad = foreign_or_corrupt(h.word, owner);
        } else if (NM_UNLIKELY(header_stored_check(h.word) != header_check(header_size(h.word), kh.slot, kh.gen))) {
            unclaim(g);
            refused = true;
            bad = MisuseKind::CorruptHeader;
        } else {
            const uint64_t size = header_size(h.word);
            // Mark Freed before mi_free: afterwards the address may be handed out again and
            // marked Live by another thread, which our late store would overwrite.
            g->store(uint8_t(Granule::Freed), std::memory_order_release);
            lane->frees.store(lane->frees.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            lane->blocks_out.store(lane->blocks_out.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            if (h.stack) lane->tally.add(h.stack, -1, -int64_t(size));
            account_bytes(k, lane, -int64_t(size));
            tsan_freeing(header_of(user));
            mi_free(header_of(user));
        }
    }
    leave(lane);
    ts->in_api.store(0, std::memory_order_release);
    if (NM_UNLIKELY(refused)) {
        record_misuse(k, bad, "ExpertFreeMemory", user, owner, frame, ts);
        return NMERR_INVALID_PARAMETER;
    }
    return terminating ? NMERR_EXPERT_TERMINATE : code;
}

void *Tracker::realloc(void *handle, void *p, size_t n, uint32_t *err, const void *frame) noexcept {
    if (!p) return alloc(handle, n, err, frame);
    KeyHandle kh;
    Key *k = key_of(handle, kh);
    if (NM_UNLIKELY(!k)) { set_err(err, NMERR_INVALID_EXPERT_HANDLE); return nullptr; }
    ThreadState *ts = thread_state();
    Lane *lane = lane_for(ts, k, reinterpret_cast<uintptr_t>(handle), kh.gen);
    if (NM_UNLIKELY(!lane)) { set_err(err, NMERR_INVALID_EXPERT_HANDLE); return nullptr; }
    ts->in_api.store(1, std::memory_order_relaxed);
    uint64_t w = enter(lane);
    if (NM_UNLIKELY(word_gen(w) != kh.gen || word_state(w) != KeyState::Open)) {
        bool term = word_gen(w) == kh.gen && word_state(w) == KeyState::Terminating;
        leave(lane);
        ts->in_api.store(0, std::memory_order_release);
        set_err(err, term ? NMERR_EXPERT_TERMINATE : NMERR_INVALID_EXPERT_HANDLE);
        return nullptr;
    }
    const uintptr_t user = reinterpret_cast<uintptr_t>(p);
    uint8_t seen;
    std::atomic<uint8_t> *g = claim(user, seen);
    BlockHeader h{};
    MisuseKind bad{};
    uint32_t owner = 0;
    bool refused = false;
    if (g) h = *header_of(user);
    if (!g) {
        refused = true;
        bad = classify_bad_pointer(user, seen, owner);
    } else if (header_slot(h.word) != kh.slot) {
        unclaim(g);
        refused = true;
        bad = foreign_or_corrupt(h.word, owner);
    } else if (header_stored_check(h.word) != header_check(header_size(h.word), kh.slot, kh.gen)) {
        unclaim(g);
        refused = true;
        bad = MisuseKind::CorruptHeader;
    }
    if (refused) {
        leave(lane);
        ts->in_api.store(0, std::memory_order_release);
        record_misuse(k, bad, "ExpertReallocMemory", user, owner, frame, ts);
        set_err(err, NMERR_INVALID_PARAMETER);
        return nullptr;
    }

    const uint64_t old_size = header_size(h.word);
    void *result = nullptr;
    uint32_t code = NMERR_SUCCESS;
    mi_heap_s *heap = n <= kMaxBlockSize ? heap_of(lane) : nullptr;
    if (!heap) {
        unclaim(g);
        code = NMERR_OUT_OF_MEMORY;
    } else {
        const uint32_t stack = capture_stack(frame, ts);
        void *old_block = header_of(user);
        const size_t need = block_bytes(n);
        const size_t usable = mi_usable_size(old_block);
        uint32_t t = lane->now_ms;
        if (need <= usable && need >= usable / 2) {
            // Fits where it is (mimalloc's own in-place rule); the block stays in its heap.
            *header_of(user) = BlockHeader{stack, t, header_word(n, kh.slot, kh.gen)};
            unclaim(g);
            result = p;
        } else {
            void *nb = tsan_allocated(mi_heap_malloc(heap, need));
            uintptr_t nuser = reinterpret_cast<uintptr_t>(nb) + sizeof(BlockHeader);
            std::atomic<uint8_t> *ng = nb ? map_.find_or_create(nuser) : nullptr;
            if (!ng) {
                if (nb) mi_free(nb);
                unclaim(g);
                code = NMERR_OUT_OF_MEMORY;
            } else {
                std::memcpy(reinterpret_cast<void *>(nuser), p, old_size < n ? old_size : n);
                *header_of(nuser) = BlockHeader{stack, t, header_word(n, kh.slot, kh.gen)};
                ng->store(uint8_t(Granule::Live), std::memory_order_release);
                g->store(uint8_t(Granule::Freed), std::memory_order_release);
                tsan_freeing(old_block);
                mi_free(old_block);
                lane->note_chunk(nuser);
                result = reinterpret_cast<void *>(nuser);
            }
        }
        if (result) {
            lane->reallocs.store(lane->reallocs.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            if (h.stack) lane->tally.add(h.stack, -1, -int64_t(old_size));
            if (stack) lane->tally.add(stack, 1, int64_t(n));
            account_bytes(k, lane, int64_t(n) - int64_t(old_size));
        }
    }
    leave(lane);
    ts->in_api.store(0, std::memory_order_release);
    set_err(err, code);
    return result;
}

size_t Tracker::size_of(void *handle, void *p) noexcept {
    KeyHandle kh;
    Key *k = key_of(handle, kh);
    if (!k || !p) return 0;
    ThreadState *ts = thread_state();
    Lane *lane = lane_for(ts, k, reinterpret_cast<uintptr_t>(handle), kh.gen);
    if (!lane) return 0;
    ts->in_api.store(1, std::memory_order_relaxed);
    uint64_t w = enter(lane);
    size_t size = 0;
    if (word_gen(w) == kh.gen && (word_state(w) == KeyState::Open || word_state(w) == KeyState::Terminating)) {
        uint8_t seen;
        const uintptr_t user = reinterpret_cast<uintptr_t>(p);
        if (std::atomic<uint8_t> *g = claim(user, seen)) {
            BlockHeader h = *header_of(user);
            if (header_slot(h.word) == kh.slot &&
                header_stored_check(h.word) == header_check(header_size(h.word), kh.slot, kh.gen))
                size = header_size(h.word);
            unclaim(g);
        }
    }
    leave(lane);
    ts->in_api.store(0, std::memory_order_release);
    return size;
}

// A live block whose header names another slot: that key's block if the header checks out
// against that key, otherwise a header the expert overwrote.
__attribute__((noinline)) MisuseKind Tracker::foreign_or_corrupt(uint64_t word, uint32_t &owner_slot) noexcept {
    const uint32_t slot = header_slot(word);
    Key *o = slot ? slots_[slot].load(std::memory_order_acquire) : nullptr;
    if (o && header_stored_check(word) == header_check(header_size(word), slot, word_gen(o->word.load(std::memory_order_acquire)))) {
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

__attribute__((noinline)) void Tracker::record_misuse(Key *k, MisuseKind kind, const char *fn, uintptr_t p,
                                                      uint32_t owner_slot, const void *frame,
                                                      ThreadState *ts) noexcept {
    uint32_t depth = depth_.load(std::memory_order_relaxed);
    uintptr_t buf[StackDepot::kMaxDepth];
    // Misuse is rare and its stack is the point of the report: captured even in sizes-only mode.
    uint32_t stack = capture(frame, ts, buf, depth ? depth : 32);
    k->misuse_count.fetch_add(1, std::memory_order_relaxed);
    MisuseRecord r;
    r.key_id = k->id.load(std::memory_order_relaxed);
    r.time_ms = now_ms();
    r.kind = kind;
    r.function = fn;
    r.address = p;
    r.stack = stack;
    if (owner_slot && owner_slot < kMaxKeys) {
        if (Key *o = slots_[owner_slot].load(std::memory_order_acquire)) {
            std::lock_guard<std::mutex> lock(o->mu);
            r.owner = o->name;
        }
    }
    history_.add_misuse(std::move(r));
}

} // namespace nm::track

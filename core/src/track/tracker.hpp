// tracker.hpp - the process-wide tracker: key table, live map, stack depot, per-thread state,
// and the operations behind the expert memory API.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "track/history.hpp"
#include "track/key_table.hpp"
#include "track/livemap.hpp"
#include "track/query.hpp"
#include "track/stack_depot.hpp"
#include "track/unwind.hpp"

namespace nm::track {

// 16 bytes in front of every user pointer. Only read once the live map says the block is live
// and the reader holds its claim.
// The checked word sits right before the user bytes, where an expert's buffer underflow lands
// first.
struct BlockHeader {
    uint32_t stack;    // depot id
    uint32_t time_ms;  // ms since the tracker started (wraps after 49 days)
    uint64_t word;     // size (40 bits) | slot (16 bits) | check (8 bits)
};
static_assert(sizeof(BlockHeader) == 16, "the header keeps user pointers 16-aligned");

// BlockHeader::stack: the depot id in the low 28 bits (the depot's limit), and in the top bits
// the function family that made the block: 0 for the expert API, heap::Fn for malloc/new/new[].
inline constexpr uint32_t kStackIdMask = (1u << 28) - 1;
inline uint32_t header_stack_id(uint32_t stack) noexcept { return stack & kStackIdMask; }
inline uint32_t header_fn(uint32_t stack) noexcept { return stack >> 28; }

inline constexpr uint64_t kMaxBlockSize = (uint64_t{1} << 40) - 1;

inline uint8_t header_check(uint64_t size, uint32_t slot, uint32_t gen) noexcept {
    uint64_t x = size * 0x9E3779B97F4A7C15ull ^ (uint64_t(slot) << 21) ^ gen;
    return uint8_t((x >> 56) ^ (x >> 24) ^ 0x5A);
}
inline uint64_t header_word(uint64_t size, uint32_t slot, uint32_t gen) noexcept {
    return size | (uint64_t(slot) << 40) | (uint64_t(header_check(size, slot, gen)) << 56);
}
inline uint64_t header_size(uint64_t w) noexcept { return w & kMaxBlockSize; }
inline uint32_t header_slot(uint64_t w) noexcept { return uint32_t(w >> 40) & 0xffff; }
inline uint8_t header_stored_check(uint64_t w) noexcept { return uint8_t(w >> 56); }

struct ThreadState {
    uint64_t serial = 0;
    StackBounds stack;
    struct CacheEntry {
        uint64_t key = 0;
        Lane *lane = nullptr;
    };
    static constexpr size_t kCacheSize = 64;
    CacheEntry cache[kCacheSize];
    Lane *lanes = nullptr; // every lane this thread owns
    // 1 while this thread is inside an API call or holds claims on blocks it may not own. A heap
    // destroy waits for it (wait_for_claims) so no claimed header is read from freed pages.
    std::atomic<int> in_api{0};
};

struct Cleanup {
    uint64_t blocks = 0, bytes = 0;
};

class Tracker {
public:
    static Tracker &get() noexcept;
    static Tracker &get_slow() noexcept;

    // Expert API (frame: __builtin_frame_address(0) of the exported function, for the stack).
    void *alloc(void *key, size_t n, uint32_t *err, const void *frame) noexcept;
    void *realloc(void *key, void *p, size_t n, uint32_t *err, const void *frame) noexcept;
    uint32_t free(void *key, void *p, const void *frame) noexcept;
    size_t size_of(void *key, void *p) noexcept;
    uint32_t indicate_status(void *key, uint32_t status, uint32_t substatus, const char *text, int32_t percent);

    // Host API.
    void *open_key(const char *name);
    uint32_t request_terminate(void *key);
    uint32_t close_key(void *key, uint32_t outcome, Cleanup *out);
    uint32_t key_check(void *key) noexcept;
    // The model id of an open (or terminating) key, with key_check's code in *status; 0 otherwise.
    uint64_t open_key_id(void *key, uint32_t *status) const noexcept; // events.cpp
    // The handle of the open (or terminating) key whose model id is `id`, or nullptr.
    void *handle_for_id(uint64_t id) const noexcept;
    bool record_outcome_detail(void *key, const std::string &detail, int signal, uint64_t address,
                               const uintptr_t *frames, size_t n);

    void set_stack_depth(uint32_t depth) noexcept;
    uint32_t stack_depth() const noexcept { return depth_.load(std::memory_order_relaxed); }

    // For snapshots (Query::read): every open key, blocks included when asked, and the history
    // newer than `since`.
    void read(Reading &out, bool include_blocks, uint64_t since);
    const StackDepot &depot() const noexcept { return depot_; }
    // Is `user` still the start of a live block of `size` bytes? Reads the header only once the
    // live map says so; for the reachability pass, with other threads stopped.
    bool block_live(uintptr_t user, uint64_t size, bool api) const noexcept;
    uint64_t now_ms() const noexcept;
    uint64_t start_unix_ms() const noexcept { return start_unix_ms_; }

    ThreadState *thread_state() noexcept;
    ThreadState *thread_state_slow() noexcept;
    void thread_exit(ThreadState *ts) noexcept;
    // After a signal handler unwound this thread out of an API call: no lane of it is busy.
    void thread_recover() noexcept;

private:
    friend struct HeapOps; // the whole-heap entry points (heap_ops.cpp)
    friend struct ObserveOps; // the observed heap of an attached process (heap_observe.cpp)
    Tracker();

    Key *key_of(void *handle, KeyHandle &kh) const noexcept {
        if (!decode_key(handle, kh)) return nullptr;
        return slots_[kh.slot].load(std::memory_order_acquire);
    }
    Lane *lane_for(ThreadState *ts, Key *k, uint64_t handle, uint32_t gen) noexcept;
    Lane *lane_slow(ThreadState *ts, Key *k, uint64_t handle, uint32_t gen) noexcept;
    // Enter/leave an API call on a lane: publishes busy before reading the key's state.
    uint64_t enter(Lane *lane) noexcept;
    static void leave(Lane *lane) noexcept { lane->busy.store(0, std::memory_order_release); }

    uint32_t capture(const void *frame, ThreadState *ts, uintptr_t *buf, uint32_t depth) noexcept;
    uint32_t capture_stack(const void *frame, ThreadState *ts) noexcept;
    std::atomic<uint8_t> *claim(uintptr_t p, uint8_t &seen) noexcept {
        seen = uint8_t(Granule::None);
        std::atomic<uint8_t> *g = (p & 15) ? nullptr : map_.find(p);
        if (!g) return nullptr;
        uint8_t v = uint8_t(Granule::Live);
        if (__builtin_expect(g->compare_exchange_strong(v, uint8_t(Granule::Claimed), std::memory_order_acquire), 1))
            return g;
        return claim_slow(g, seen);
    }
    std::atomic<uint8_t> *claim_slow(std::atomic<uint8_t> *g, uint8_t &seen) noexcept;
    // Gives a claim back. A CAS, not a store: if the block's heap was destroyed meanwhile its
    // granule is None now and must stay so.
    static void unclaim(std::atomic<uint8_t> *g) noexcept {
        uint8_t expected = uint8_t(Granule::Claimed);
        g->compare_exchange_strong(expected, uint8_t(Granule::Live), std::memory_order_release,
                                   std::memory_order_relaxed);
    }
    void wait_for_claims(ThreadState *self) noexcept;
    void account_bytes(Key *k, Lane *lane, int64_t delta) noexcept;
    void raise_peak(Key *k, int64_t now) noexcept;
    int64_t key_live_bytes(Key *k) const noexcept; // readers: with k->mu held or after quiesce
    int64_t key_peak_bytes(Key *k) const noexcept;
    mi_heap_s *heap_of(Lane *lane) noexcept;

    void record_misuse(Key *k, MisuseKind kind, const char *fn, uintptr_t p, uint32_t owner_slot,
                       const void *frame, ThreadState *ts) noexcept;
    MisuseKind foreign_or_corrupt(uint64_t word, uint32_t &owner_slot) noexcept;
    MisuseKind classify_bad_pointer(uintptr_t p, uint8_t seen, uint32_t &owner_slot) noexcept;

    void quiesce(Key *k) noexcept;
    void reclaim_own_lane(Lane *lane, ThreadState *self) noexcept;
    void reclaim_foreign_lane(Key *k, Lane *lane, uint32_t gen, ThreadState *self) noexcept;
    void sweep_dead_lanes(ThreadState *ts) noexcept;
    void read_key(Key *k, KeyRecord &r, bool include_blocks);

    LiveMap map_;
    StackDepot depot_;
    std::atomic<Key *> slots_[kMaxKeys] = {};
    std::mutex slot_mu_;
    std::vector<uint32_t> free_slots_;
    uint32_t next_slot_ = 1;
    std::atomic<uint64_t> next_key_id_{1};
    std::atomic<uint64_t> next_thread_serial_{1};
    std::atomic<uint32_t> depth_{32};
    bool use_libunwind_ = false;
    bool heavy_fence_ = false; // no membarrier(2): the hot path pays a full fence instead
    uint64_t start_ns_ = 0, start_unix_ms_ = 0;

    std::mutex threads_mu_;
    std::vector<ThreadState *> threads_; // every live ThreadState, for wait_for_claims

    History history_;
};

extern Tracker *g_tracker; // set once, by the first get_slow(); never destroyed

inline Tracker &Tracker::get() noexcept {
    Tracker *t = g_tracker;
    if (__builtin_expect(t != nullptr, 1)) return *t;
    return get_slow();
}

// initial-exec: one pointer of static TLS, read without a __tls_get_addr call on the hot path.
extern thread_local ThreadState *t_state __attribute__((tls_model("initial-exec")));

inline ThreadState *Tracker::thread_state() noexcept {
    ThreadState *ts = t_state;
    if (__builtin_expect(ts != nullptr, 1)) return ts;
    return thread_state_slow();
}

inline Lane *Tracker::lane_for(ThreadState *ts, Key *k, uint64_t handle, uint32_t gen) noexcept {
    ThreadState::CacheEntry &e = ts->cache[k->slot & (ThreadState::kCacheSize - 1)];
    if (__builtin_expect(e.key == handle, 1)) return e.lane;
    return lane_slow(ts, k, handle, gen);
}

} // namespace nm::track

// tracker.hpp - the process-wide tracker: composes the key table, the thread registry, the live
// map, the stack depot, the history and the options, and runs the operations behind the expert
// memory API on them.
//
// Its primitives (key look-up, a thread's lane for a key, claim/unclaim of a live block, the live
// map, stack capture and interning) are public so other entry paths of this layer can use them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "track/header.hpp"
#include "track/history.hpp"
#include "track/key_table.hpp"
#include "track/livemap.hpp"
#include "track/options.hpp"
#include "track/query.hpp"
#include "track/stack_depot.hpp"
#include "track/thread_registry.hpp"
#include "track/unwind.hpp"

namespace nm::track {

struct Cleanup {
    uint64_t blocks = 0, bytes = 0;
};

class Tracker {
public:
    static Tracker &get() noexcept;
    static Tracker &get_slow() noexcept;
    static Tracker &hot() noexcept;

    // Expert API (frame: __builtin_frame_address(0) of the exported function, for the stack).
    void *alloc(void *key, size_t n, uint32_t *err, const void *frame) noexcept;
    void *realloc(void *key, void *p, size_t n, uint32_t *err, const void *frame) noexcept;
    uint32_t free(void *key, void *p, const void *frame) noexcept;
    size_t size_of(void *key, void *p) noexcept;
    void *alloc_outlined(void *key, size_t n, uint32_t *err, const void *frame) noexcept; // alloc, not inlined
    uint32_t indicate_status(void *key, uint32_t status, uint32_t substatus, const char *text, int32_t percent);

    // Host API.
    void *open_key(const char *name);
    uint32_t request_terminate(void *key);
    uint32_t close_key(void *key, uint32_t outcome, Cleanup *out);
    uint32_t key_check(void *key) noexcept;
    // The id of an open (or terminating) key, with key_check's code in *status; 0 otherwise.
    uint64_t open_key_id(void *key, uint32_t *status) const noexcept; // events.cpp
    // The handle of the open (or terminating) key whose id is `id`, or nullptr.
    void *handle_for_id(uint64_t id) const noexcept;
    bool record_outcome_detail(void *key, const std::string &detail, int signal, uint64_t address,
                               const uintptr_t *frames, size_t n);
    // The module (link_map) whose heap blocks made for this open key's run belong to it.
    bool set_key_home(void *key, const void *link_map) noexcept;
    // A heap block of a closed (Retired) key is freed: accounted to that key. Takes k->mu; called
    // with no claim held.
    void free_left_behind(Key *k, uint32_t slot, uint32_t gen, uintptr_t user, ThreadState *ts) noexcept;

    void set_stack_depth(uint32_t depth) noexcept;
    // What a close does with the left-behind heap blocks nothing can reach (NMLEAK_RECLAIM_LEFT_BEHIND).
    void set_reclaim_left_behind(ReclaimLeft mode) noexcept {
        options_.reclaim_left.store(mode, std::memory_order_relaxed);
    }
    uint32_t stack_depth() const noexcept { return options_.depth.load(std::memory_order_relaxed); }

    // For snapshots (Query::read): every open key, blocks included when asked, and the history
    // newer than `since`.
    void read(Reading &out, bool include_blocks, uint64_t since);
    void read_history(Reading &out, uint64_t since) const { history_.read(out, since); }
    const StackDepot &depot() const noexcept { return depot_; }
    // Is `user` still the start of a live block of `size` bytes? Reads the header only once the
    // live map says so; for the reachability pass, with other threads stopped.
    bool block_live(uintptr_t user, uint64_t size, bool api) const noexcept;
    uint64_t now_ms() const noexcept;
    uint64_t start_unix_ms() const noexcept { return start_unix_ms_; }

    ThreadState *thread_state() noexcept;
    ThreadState *thread_state_slow() noexcept;
    void thread_exit(ThreadState *ts) noexcept;
    // After a signal handler unwound this thread out of an API call: it is inside none.
    void thread_recover() noexcept;

    // ---- primitives of this layer -------------------------------------------------------------
    KeyTable &keys() noexcept { return keys_; }
    LiveMap &live_map() noexcept { return map_; }
    // This thread's lane for key k (handle/gen from its handle); nullptr if the key is not open.
    Lane *lane_for(ThreadState *ts, Key *k, uint64_t handle, uint32_t gen) noexcept;
    // Captures the caller's stack from `frame` and interns it: 0 in sizes-only mode.
    uint32_t capture_stack(const void *frame, ThreadState *ts) noexcept;
    uint32_t capture_stack(const void *frame, ThreadState *ts, uint32_t depth) noexcept;
    // Claims the live block starting at p (Live -> Claimed) so its header may be read; nullptr,
    // with what the map says in `seen`, when p starts no live block.
    std::atomic<uint8_t> *claim(uintptr_t p, uint8_t &seen) noexcept {
        seen = uint8_t(Granule::None);
        std::atomic<uint8_t> *g = (p & 15) ? nullptr : map_.find(p);
        if (!g) return nullptr;
        uint8_t v = uint8_t(Granule::Live);
        if (__builtin_expect(g->compare_exchange_strong(v, uint8_t(Granule::Claimed), std::memory_order_acquire), 1))
            return g;
        return claim_slow(g, seen);
    }
    // Gives a claim back. A CAS, not a store: if the block's heap was destroyed meanwhile its
    // granule is None now and must stay so.
    static void unclaim(std::atomic<uint8_t> *g) noexcept {
        uint8_t expected = uint8_t(Granule::Claimed);
        g->compare_exchange_strong(expected, uint8_t(Granule::Live), std::memory_order_release,
                                   std::memory_order_relaxed);
    }
    const Options &options() const noexcept { return options_; }

private:
    friend class KeyCall;
    friend struct HeapOps;    // the whole-heap entry points (heap_ops.cpp): fork locks
    friend struct ObserveOps; // the observed heap of an attached process (heap_observe.cpp)
    friend struct ObserveFork;
    Tracker();

    Lane *lane_slow(ThreadState *ts, Key *k, uint64_t handle, uint32_t gen) noexcept;
    // KeyCall's path for a handle not in the thread's lane cache: decode, key table, lane.
    // (A result by value: KeyCall's own members never have their address taken.)
    struct SlowCall {
        Key *key = nullptr;
        Lane *lane = nullptr; // nullptr: the key is not open
    };
    SlowCall key_call_slow(ThreadState *ts, void *handle) noexcept;
    std::atomic<uint8_t> *claim_slow(std::atomic<uint8_t> *g, uint8_t &seen) noexcept;
    void wait_for_claims(ThreadState *self) noexcept;
    mi_heap_s *heap_of(Lane *lane) noexcept;

    void record_misuse(Key *k, MisuseKind kind, const char *fn, uintptr_t p, uint32_t owner_slot,
                       const void *frame, ThreadState *ts) noexcept;
    MisuseKind misuse_of(HeaderCheck c, uint64_t word, uint32_t &owner_slot) noexcept;
    MisuseKind classify_bad_pointer(uintptr_t p, uint8_t seen, uint32_t &owner_slot) noexcept;

    void quiesce(Key *k, ThreadState *self) noexcept;
    void reclaim_own_lane(Lane *lane, ThreadState *self) noexcept;
    void reclaim_foreign_lane(Key *k, Lane *lane, uint32_t gen, ThreadState *self) noexcept;
    void sweep_dead_lanes(ThreadState *ts) noexcept;
    void read_key(Key *k, KeyRecord &r, bool include_blocks);
    void read_retired(Key *k, KeyRecord &r, bool include_blocks);
    // Close: the key's heap blocks still live, found through its lanes' chunks (not freed).
    void collect_left_behind(Key *k, Lane *lanes, uint32_t gen, ThreadState *self, CloseRecord &c);
    // The opt-in reclaim of the left-behind blocks nothing reaches (reclaim.cpp): called by
    // close_key with the key Closing and k->mu not held.
    void reclaim_unreachable(Key *k, uint32_t gen, ThreadState *self, CloseRecord &c);

    KeyTable keys_;
    LiveMap map_;
    StackDepot depot_;
    ThreadRegistry threads_;
    History history_;
    Options options_;
    uint64_t start_ns_ = 0, start_unix_ms_ = 0;
};

extern Tracker *g_tracker; // set once, by the first get_slow(); never destroyed
// Where get_slow() constructs the tracker: a link-time constant address, so the hot path reaches
// its members without loading a pointer.
alignas(Tracker) extern unsigned char g_tracker_storage[sizeof(Tracker)] __attribute__((visibility("hidden")));

inline Tracker &Tracker::get() noexcept {
    // Acquire (a plain load on x86-64): it pairs with get_slow()'s release store, so a thread
    // that sees the pointer sees the constructed tracker.
    Tracker *t = __atomic_load_n(&g_tracker, __ATOMIC_ACQUIRE);
    if (__builtin_expect(t != nullptr, 1)) return *t;
    return get_slow();
}

// initial-exec: one pointer of static TLS, read without a __tls_get_addr call on the hot path.
// constinit: no TLS wrapper call to check for a dynamic initializer on every access.
extern constinit thread_local ThreadState *t_state __attribute__((tls_model("initial-exec")));
// The expert key handle whose run this thread works for (0: none): set by the host runner around
// Run and on the threads the expert starts. The whole heap reads it on every allocation.
extern constinit thread_local uint64_t t_run_key __attribute__((tls_model("initial-exec")));
// ExpertAllocMemory's call when the thread's run key is not the key it allocated with (api.cpp).
void adopt_run_key(void *key, const void *caller) noexcept;

// The tracker, for a call that starts with thread_state(): a thread has a state only once the
// tracker exists.
inline Tracker &Tracker::hot() noexcept {
    if (__builtin_expect(t_state != nullptr, 1)) return *std::launder(reinterpret_cast<Tracker *>(g_tracker_storage));
    return get(); // a new thread: get_slow() only while the tracker does not exist yet
}

inline ThreadState *Tracker::thread_state() noexcept {
    ThreadState *ts = t_state;
    if (__builtin_expect(ts != nullptr, 1)) return ts;
    return thread_state_slow();
}

inline Lane *Tracker::lane_for(ThreadState *ts, Key *k, uint64_t handle, uint32_t gen) noexcept {
    ThreadState::CacheEntry &e = ts->cache[k->slot & (ThreadState::kCacheSize - 1)];
    if (__builtin_expect(e.handle == handle, 1)) return e.lane;
    return lane_slow(ts, k, handle, gen);
}

inline uint32_t Tracker::capture_stack(const void *frame, ThreadState *ts, uint32_t depth) noexcept {
    uintptr_t buf[StackDepot::kMaxDepth];
    if (__builtin_expect(options_.use_libunwind, 0)) {
        uint32_t n = uint32_t(unwind_with_libunwind(buf, depth));
        return ts->stacks.intern(depot_, buf, n, stack_hash(buf, n));
    }
    const Walk w = walk_frame_pointers(frame, ts->stack, buf, depth);
    if (w.n == 0) return 0;
    return ts->stacks.intern(depot_, buf, w.n, w.hash);
}

inline uint32_t Tracker::capture_stack(const void *frame, ThreadState *ts) noexcept {
    const uint32_t depth = options_.depth.load(std::memory_order_relaxed);
    if (depth == 0) return 0;
    return capture_stack(frame, ts, depth);
}

// The prologue and epilogue of every call on a key, as one scope: finds the key and this thread's
// lane, marks the thread inside a call on that key, and reads the key's state; the destructor
// marks it outside again. A closer that set the key Closing either sees the mark and waits, or
// the call sees Closing and backs out (quiesce).
class KeyCall {
public:
    enum class State : uint8_t { Invalid, Open, Terminating };

    KeyCall(Tracker &t, ThreadState *ts, void *handle) noexcept
        : ts_(ts), handle_(reinterpret_cast<uintptr_t>(handle)) {
        const ThreadState::CacheEntry &e = ts->cache[handle_ & (ThreadState::kCacheSize - 1)];
        if (__builtin_expect(e.handle == handle_, 1)) {
            // A cached handle is a valid one (see ThreadState::cache): no decode, no key table.
            lane_ = e.lane;
            key_ = lane_->key;
        } else {
            const Tracker::SlowCall r = t.key_call_slow(ts, handle);
            key_ = r.key;
            if (!r.lane) return;
            lane_ = r.lane;
        }
        // Release, though nothing needs it on x86: a closer of another key that reads this word
        // then also sees this thread's writes from its earlier calls (TSan does not see membarrier).
        ts->in_api.store(slot(), std::memory_order_release);
        // Pairs with the barrier in quiesce(): without membarrier(2) this is a real fence.
        if (__builtin_expect(t.options_.heavy_fence, 0)) std::atomic_thread_fence(std::memory_order_seq_cst);
        else std::atomic_signal_fence(std::memory_order_seq_cst);
        const uint64_t w = key_->word.load(std::memory_order_acquire);
        if (__builtin_expect(w == lane_->open_word, 1)) state_ = State::Open;
        else if (word_gen(w) == gen() && word_state(w) == KeyState::Terminating) state_ = State::Terminating;
    }
    ~KeyCall() { leave(); }
    KeyCall(const KeyCall &) = delete;
    KeyCall &operator=(const KeyCall &) = delete;

    // Ends the call early (before slow work that must not hold up a closer).
    void leave() noexcept {
        if (lane_) ts_->in_api.store(0, std::memory_order_release);
        lane_ = nullptr;
    }
    State state() const noexcept { return state_; }
    bool open() const noexcept { return state_ == State::Open; }
    Key *key() const noexcept { return key_; }
    Lane *lane() const noexcept { return lane_; }
    // Of the handle (valid once key() is set: decode_key's fields).
    uint32_t slot() const noexcept { return uint32_t(handle_ & 0xffff); }
    uint32_t gen() const noexcept { return uint32_t(handle_ >> 16); }
    // The header word of a block of n bytes of this key, and the check of a header against it.
    // Only with lane() set.
    uint64_t header_word(uint64_t n) const noexcept { return header_word_keyed(n, lane_->base, lane_->salt); }
    HeaderCheck check(uint64_t word) const noexcept { return check_header_keyed(word, lane_->base, lane_->salt); }

private:
    ThreadState *ts_;
    Key *key_ = nullptr;
    Lane *lane_ = nullptr;
    uint64_t handle_;
    State state_ = State::Invalid;
};

} // namespace nm::track

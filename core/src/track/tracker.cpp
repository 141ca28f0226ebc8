// tracker.cpp - start-up, per-thread state and lanes, and the key life cycle: open, terminate,
// status, and close with its forced reclaim.
#include "track/tracker.hpp"
#include "track/tsan.hpp"

#include <linux/membarrier.h>
#include <mimalloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <unordered_map>

#include "nmhost.h"

namespace nm::track {

constinit thread_local ThreadState *t_state __attribute__((tls_model("initial-exec"))) = nullptr;
constinit thread_local uint64_t t_run_key __attribute__((tls_model("initial-exec"))) = 0;

namespace {

pthread_key_t g_thread_key;

uint64_t monotonic_ns(clockid_t clock) noexcept {
    timespec ts;
    clock_gettime(clock, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

void thread_key_destructor(void *p) {
    Tracker::get().thread_exit(static_cast<ThreadState *>(p));
}

} // namespace

Tracker *g_tracker = nullptr;
alignas(Tracker) unsigned char g_tracker_storage[sizeof(Tracker)];

Tracker &Tracker::get_slow() noexcept {
    // Constructed on first use and never destroyed: blocks may be freed by static destructors and
    // by threads still running while the process exits.
    static Tracker *t = new (g_tracker_storage) Tracker();
    __atomic_store_n(&g_tracker, t, __ATOMIC_RELEASE);
    return *t;
}

Tracker::Tracker() {
    start_ns_ = monotonic_ns(CLOCK_MONOTONIC_COARSE);
    start_unix_ms_ = monotonic_ns(CLOCK_REALTIME) / 1000000;
    pthread_key_create(&g_thread_key, thread_key_destructor);
    options_.load_from_environment();
}

uint64_t Tracker::now_ms() const noexcept {
    return (monotonic_ns(CLOCK_MONOTONIC_COARSE) - start_ns_) / 1000000;
}

void Tracker::set_stack_depth(uint32_t depth) noexcept {
    options_.depth.store(std::min<uint32_t>(depth, StackDepot::kMaxDepth), std::memory_order_relaxed);
}

// ---- threads and lanes ------------------------------------------------------------------------

ThreadState *Tracker::thread_state_slow() noexcept {
    ThreadState *ts = new (std::nothrow) ThreadState();
    if (!ts) std::abort();
    ts->serial = threads_.next_serial();
    ts->stack = current_stack_bounds();
    t_state = ts;
    pthread_setspecific(g_thread_key, ts);
    threads_.add(ts);
    return ts;
}

void Tracker::thread_exit(ThreadState *ts) noexcept {
    // mimalloc deletes this thread's heaps itself when the thread ends (their blocks survive in
    // its backing heap), and its destructor may already have run: never touch lane->heap here.
    for (Lane *l = ts->lanes, *next; l; l = next) {
        next = l->next_in_thread;
        l->heap = nullptr;
        l->release();
    }
    threads_.remove(ts);
    t_state = nullptr;
    delete ts;
}

void Tracker::thread_recover() noexcept {
    thread_state()->in_api.store(0, std::memory_order_release);
}

__attribute__((noinline)) Tracker::SlowCall Tracker::key_call_slow(ThreadState *ts, void *handle) noexcept {
    SlowCall r;
    KeyHandle kh;
    r.key = keys_.find(handle, kh);
    if (r.key) r.lane = lane_for(ts, r.key, reinterpret_cast<uintptr_t>(handle), kh.gen);
    return r;
}

__attribute__((noinline)) Lane *Tracker::lane_slow(ThreadState *ts, Key *k, uint64_t handle, uint32_t gen) noexcept {
    sweep_dead_lanes(ts);
    ThreadState::CacheEntry &e = ts->cache[k->slot & (ThreadState::kCacheSize - 1)];
    for (Lane *l = ts->lanes; l; l = l->next_in_thread) {
        if (l->key == k && l->gen == gen) {
            e = {handle, l};
            return l;
        }
    }
    std::lock_guard<std::mutex> lock(k->mu);
    uint64_t w = k->word.load(std::memory_order_acquire);
    if (word_gen(w) != gen || (word_state(w) != KeyState::Open && word_state(w) != KeyState::Terminating))
        return nullptr;
    if (Lane *first = k->lanes.load(std::memory_order_relaxed); first && !first->next_in_key) {
        // A second thread joins: from now on the first lane's peak alone no longer is the key's
        // (see kPublishBytes); keep what it was.
        k->joined_peak.store(first->peak_bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    Lane *l = new (std::nothrow) Lane();
    if (!l) return nullptr;
    l->key = k;
    l->gen = gen;
    l->open_word = key_word(gen, KeyState::Open);
    l->salt = header_salt(k->slot, gen);
    l->base = header_base(k->slot);
    l->owner = ts->serial;
    l->next_in_key = k->lanes.load(std::memory_order_relaxed);
    k->lanes.store(l, std::memory_order_release);
    l->next_in_thread = ts->lanes;
    ts->lanes = l;
    e = {handle, l};
    return l;
}

// Lets go of lanes whose key was closed by another thread: their heaps are empty now and only
// this thread may delete them.
void Tracker::sweep_dead_lanes(ThreadState *ts) noexcept {
    Lane **link = &ts->lanes;
    while (Lane *l = *link) {
        if (!l->dead.load(std::memory_order_acquire)) { link = &l->next_in_thread; continue; }
        *link = l->next_in_thread;
        for (size_t i = 0; i < ThreadState::kCacheSize; ++i)
            if (ts->cache[i].lane == l) ts->clear_cache_entry(i);
        if (l->heap) mi_heap_delete(l->heap);
        l->heap = nullptr;
        l->release();
    }
}

// ---- key life cycle ---------------------------------------------------------------------------

void *Tracker::open_key(const char *name) {
    if (!name) return nullptr;
    Key *k = keys_.take();
    if (!k) return nullptr;
    std::lock_guard<std::mutex> lock(k->mu);
    uint32_t gen = word_gen(k->word.load(std::memory_order_relaxed)) + 1;
    if (gen == 0) gen = 1;
    k->name = name;
    k->opened_ms = now_ms();
    k->status = {};
    k->outcome_detail.clear();
    k->crash_signal = 0;
    k->crash_address = 0;
    k->crash_stack = 0;
    k->lanes.store(nullptr, std::memory_order_relaxed);
    k->shared_bytes.store(0, std::memory_order_relaxed);
    k->shared_peak.store(0, std::memory_order_relaxed);
    k->joined_peak.store(0, std::memory_order_relaxed);
    k->misuse_count.store(0, std::memory_order_relaxed);
    k->home.store(nullptr, std::memory_order_relaxed);
    k->left.clear();
    k->left_live_blocks = k->left_live_bytes = k->left_frees = 0;
    k->id.store(keys_.next_id(), std::memory_order_relaxed);
    k->word.store(key_word(gen, KeyState::Open), std::memory_order_release);
    return reinterpret_cast<void *>(encode_key(k->slot, gen));
}

uint32_t Tracker::key_check(void *handle) noexcept {
    KeyHandle kh;
    Key *k = keys_.find(handle, kh);
    if (!k) return NMERR_INVALID_EXPERT_HANDLE;
    uint64_t w = k->word.load(std::memory_order_acquire);
    if (word_gen(w) != kh.gen) return NMERR_INVALID_EXPERT_HANDLE;
    if (word_state(w) == KeyState::Open) return NMERR_SUCCESS;
    if (word_state(w) == KeyState::Terminating) return NMERR_EXPERT_TERMINATE;
    return NMERR_INVALID_EXPERT_HANDLE;
}

void *Tracker::handle_for_id(uint64_t id) const noexcept {
    for (uint32_t s = 1; s < kMaxKeys; ++s) {
        Key *k = keys_.at(s);
        if (!k) continue;
        // open_key() stores the id before it publishes the word (release): a word read with acquire
        // pairs with that id; a second read catches a close + reopen in between.
        const uint64_t w = k->word.load(std::memory_order_acquire);
        if (word_state(w) != KeyState::Open && word_state(w) != KeyState::Terminating) continue;
        if (k->id.load(std::memory_order_relaxed) != id) continue;
        if (k->word.load(std::memory_order_acquire) != w) return nullptr;
        return reinterpret_cast<void *>(encode_key(s, word_gen(w)));
    }
    return nullptr;
}

bool Tracker::set_key_home(void *handle, const void *link_map) noexcept {
    KeyHandle kh;
    Key *k = keys_.find(handle, kh);
    if (!k) return false;
    std::lock_guard<std::mutex> lock(k->mu);
    uint64_t w = k->word.load(std::memory_order_acquire);
    if (word_gen(w) != kh.gen || (word_state(w) != KeyState::Open && word_state(w) != KeyState::Terminating) ||
        k->module.load(std::memory_order_relaxed))
        return false;
    k->home.store(link_map, std::memory_order_release);
    return true;
}

uint32_t Tracker::request_terminate(void *handle) {
    KeyHandle kh;
    Key *k = keys_.find(handle, kh);
    if (!k) return NMERR_INVALID_EXPERT_HANDLE;
    std::lock_guard<std::mutex> lock(k->mu);
    uint64_t w = k->word.load(std::memory_order_acquire);
    if (word_gen(w) != kh.gen) return NMERR_INVALID_EXPERT_HANDLE;
    if (word_state(w) == KeyState::Open) k->word.store(key_word(kh.gen, KeyState::Terminating), std::memory_order_release);
    else if (word_state(w) != KeyState::Terminating) return NMERR_INVALID_EXPERT_HANDLE;
    return NMERR_SUCCESS;
}

uint32_t Tracker::indicate_status(void *handle, uint32_t status, uint32_t substatus, const char *text, int32_t percent) {
    KeyHandle kh;
    Key *k = keys_.find(handle, kh);
    if (!k) return NMERR_INVALID_EXPERT_HANDLE;
    std::lock_guard<std::mutex> lock(k->mu);
    uint64_t w = k->word.load(std::memory_order_acquire);
    if (word_gen(w) != kh.gen || (word_state(w) != KeyState::Open && word_state(w) != KeyState::Terminating))
        return NMERR_INVALID_EXPERT_HANDLE;
    k->status.status = status;
    k->status.substatus = substatus;
    k->status.text = text ? text : "";
    if (percent >= 0 && percent <= 99) k->status.percent = percent; // > 99 is ignored, as in Netmon
    return word_state(w) == KeyState::Terminating ? NMERR_EXPERT_TERMINATE : NMERR_SUCCESS;
}

bool Tracker::record_outcome_detail(void *handle, const std::string &detail, int signal, uint64_t address,
                                    const uintptr_t *frames, size_t n) {
    KeyHandle kh;
    Key *k = keys_.find(handle, kh);
    if (!k) return false;
    uint32_t stack = frames && n ? depot_.intern(frames, uint32_t(std::min<size_t>(n, StackDepot::kMaxDepth))) : 0;
    std::lock_guard<std::mutex> lock(k->mu);
    uint64_t w = k->word.load(std::memory_order_acquire);
    if (word_gen(w) != kh.gen || (word_state(w) != KeyState::Open && word_state(w) != KeyState::Terminating))
        return false;
    k->outcome_detail = detail;
    k->crash_signal = signal;
    k->crash_address = address;
    k->crash_stack = stack;
    return true;
}

// Waits until no thread is inside a call on this key. Called with the key already Closing, so
// any call that starts later sees Closing and backs out.
void Tracker::quiesce(Key *k, ThreadState *self) noexcept {
    options_.barrier();
    const uint32_t slot = k->slot;
    threads_.wait_while(self, [slot](uint32_t w) { return w == slot; });
}

namespace {
bool clear_area(const mi_heap_t *, const mi_heap_area_t *area, void *block, size_t, void *map) {
    if (!block && area->blocks) {
        auto b = reinterpret_cast<uintptr_t>(area->blocks);
        static_cast<LiveMap *>(map)->clear_range(b, b + area->reserved);
    }
    return true;
}
} // namespace

// After granules were cleared: waits until no other thread can still be reading a header it
// claimed before the clear (a foreign-key free, a snapshot, another key's reclaim). Pairs with
// the in_api store + fence those paths make before claiming.
void Tracker::wait_for_claims(ThreadState *self) noexcept {
    options_.barrier();
    threads_.wait_while(self, [](uint32_t w) { return w != 0; });
}

// The common case: the closing thread ran the expert. Forget the heap's areas in the live map and
// let mimalloc drop all pages at once: no per-block work.
void Tracker::reclaim_own_lane(Lane *lane, ThreadState *self) noexcept {
    if (!lane->heap) return;
    mi_heap_visit_blocks(lane->heap, false, clear_area, &map_);
    wait_for_claims(self);
    mi_heap_destroy(lane->heap);
    lane->heap = nullptr;
}

// Another thread's lane (alive or gone): its heap is not ours to destroy, so free its blocks one
// by one, found through the chunks they start in.
void Tracker::reclaim_foreign_lane(Key *k, Lane *lane, uint32_t gen, ThreadState *self) noexcept {
    std::vector<uint64_t> chunks;
    {
        std::lock_guard<std::mutex> lock(lane->chunk_mu);
        lane->chunks.append_to(chunks);
        lane->chunks.clear();
    }
    // A chunk may hold other keys' blocks too; we claim them to read their headers.
    self->in_api.store(kClaimsAnyKey, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (uint64_t c : chunks) {
        map_.for_each_live(c << 16, (c + 1) << 16, [&](uintptr_t user) {
            uint8_t seen;
            std::atomic<uint8_t> *g = claim(user, seen);
            if (!g) return;
            const BlockHeader *h = reinterpret_cast<const BlockHeader *>(user - sizeof(BlockHeader));
            // Heap blocks (malloc/new) of the key's run are left behind, never freed here.
            if (header_fn(h->stack) != 0 || check_header(h->word, k->slot, gen) != HeaderCheck::Ok) {
                unclaim(g);
                return;
            }
            g->store(uint8_t(Granule::Freed), std::memory_order_release);
            tsan_freeing(const_cast<BlockHeader *>(h));
            mi_free(const_cast<BlockHeader *>(h));
        });
    }
    self->in_api.store(0, std::memory_order_release);
}

namespace {
void sort_groups(std::vector<StackGroupRecord> &v) {
    std::sort(v.begin(), v.end(), [](const StackGroupRecord &a, const StackGroupRecord &b) {
        return a.bytes > b.bytes || (a.bytes == b.bytes && a.stack < b.stack);
    });
}
} // namespace

// Called by close_key after quiesce, with k->mu held and before the lanes' chunks are reclaimed:
// every live heap block of the key (its header names the key's slot and generation, and a heap
// function) is listed in k->left and grouped by stack in c.left_*.
void Tracker::collect_left_behind(Key *k, Lane *lanes, uint32_t gen, ThreadState *self, CloseRecord &c) {
    std::vector<uint64_t> chunks;
    for (Lane *l = lanes; l; l = l->next_in_key) {
        std::lock_guard<std::mutex> lock(l->chunk_mu);
        l->chunks.append_to(chunks);
    }
    std::sort(chunks.begin(), chunks.end());
    chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());
    std::unordered_map<uint32_t, std::pair<uint64_t, uint64_t>> by_stack;
    self->in_api.store(kClaimsAnyKey, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (uint64_t ch : chunks) {
        map_.for_each_live(ch << 16, (ch + 1) << 16, [&](uintptr_t user) {
            uint8_t seen;
            std::atomic<uint8_t> *g = claim(user, seen);
            if (!g) return;
            const BlockHeader h = *reinterpret_cast<const BlockHeader *>(user - sizeof(BlockHeader));
            unclaim(g);
            if (header_fn(h.stack) == 0 || check_header(h.word, k->slot, gen) != HeaderCheck::Ok) return;
            k->left.push_back(user);
            auto &agg = by_stack[header_stack_id(h.stack)];
            ++agg.first;
            agg.second += header_size(h.word);
            ++c.left_blocks;
            c.left_bytes += header_size(h.word);
        });
    }
    self->in_api.store(0, std::memory_order_release);
    for (auto &[stack, agg] : by_stack) c.left_stacks.push_back({stack, agg.first, agg.second});
    sort_groups(c.left_stacks);
}

// Not on the hot path: a heap block that outlived its key's close. The block is claimed again
// here, under k->mu, so the key's readers see it live or freed, never half.
void Tracker::free_left_behind(Key *k, uint32_t slot, uint32_t gen, uintptr_t user, ThreadState *ts) noexcept {
    std::unique_lock<std::mutex> lock(k->mu);
    for (unsigned spins = 0;; ++spins) {
        const uint64_t w = k->word.load(std::memory_order_acquire);
        if (word_gen(w) != gen || word_state(w) != KeyState::Closing) break;
        // The close is between quiesce and its lock: it will list this block; wait for it.
        lock.unlock();
        if (spins > 16) sched_yield();
        lock.lock();
    }
    const uint64_t w = k->word.load(std::memory_order_acquire);
    if (word_gen(w) != gen || word_state(w) != KeyState::Retired) return;
    ts->in_api.store(kClaimsAnyKey, std::memory_order_relaxed);
    if (options_.heavy_fence) std::atomic_thread_fence(std::memory_order_seq_cst);
    else std::atomic_signal_fence(std::memory_order_seq_cst);
    uint8_t seen;
    std::atomic<uint8_t> *g = claim(user, seen);
    if (!g) {
        ts->in_api.store(0, std::memory_order_release);
        return;
    }
    BlockHeader *h = reinterpret_cast<BlockHeader *>(user - sizeof(BlockHeader));
    const uint64_t size = header_size(h->word);
    if (header_fn(h->stack) == 0 || check_header(h->word, slot, gen) != HeaderCheck::Ok) {
        unclaim(g);
        ts->in_api.store(0, std::memory_order_release);
        return;
    }
    g->store(uint8_t(Granule::Freed), std::memory_order_release);
    ts->in_api.store(0, std::memory_order_release);
    tsan_freeing(h);
    mi_free(h);
    ++k->left_frees;
    if (k->left_live_blocks) --k->left_live_blocks;
    k->left_live_bytes = k->left_live_bytes > size ? k->left_live_bytes - size : 0;
    if (k->left_live_blocks == 0) {
        // The last one: the key's record takes the frees since the close (no reading shows the
        // key as retired any more), and the slot may serve a new key now.
        history_.settle_left_behind(k->id.load(std::memory_order_relaxed), k->left_frees);
        std::vector<uint64_t>().swap(k->left);
        k->word.store(key_word(gen, KeyState::Free), std::memory_order_release);
        keys_.give_back(slot);
    }
}

uint32_t Tracker::close_key(void *handle, uint32_t outcome, Cleanup *out) {
    KeyHandle kh;
    Key *k = keys_.find(handle, kh);
    if (!k) return NMERR_INVALID_EXPERT_HANDLE;
    if (outcome > NM_OUTCOME_TIMEOUT) return NMERR_INVALID_PARAMETER;
    {
        std::lock_guard<std::mutex> lock(k->mu);
        uint64_t w = k->word.load(std::memory_order_acquire);
        if (word_gen(w) != kh.gen || (word_state(w) != KeyState::Open && word_state(w) != KeyState::Terminating))
            return NMERR_INVALID_EXPERT_HANDLE;
        k->word.store(key_word(kh.gen, KeyState::Closing), std::memory_order_release);
    }
    ThreadState *ts = thread_state();
    quiesce(k, ts);

    KeyRecord rec;
    std::unordered_map<uint32_t, std::pair<int64_t, int64_t>> by_stack;
    std::unique_lock<std::mutex> lock(k->mu);
    // Exact: no call is in flight on the key any more.
    const Key::Figures f = k->figures();
    Lane *lanes = k->lanes.exchange(nullptr, std::memory_order_acq_rel);
    uint64_t heap_in = 0, heap_out = 0;
    for (Lane *l = lanes; l; l = l->next_in_key) {
        heap_in += l->heap_in.load(std::memory_order_relaxed);
        heap_out += l->heap_out.load(std::memory_order_relaxed);
    }
    // Before the reclaim below forgets the lanes' chunks.
    if (heap_in > heap_out) collect_left_behind(k, lanes, kh.gen, ts, rec.close);
    for (Lane *l = lanes; l; l = l->next_in_key) {
        l->tally.for_each([&](uint32_t stack, int64_t b, int64_t bytes) {
            auto &agg = by_stack[stack];
            agg.first += b;
            agg.second += bytes;
        });
        if (l->owner == ts->serial) reclaim_own_lane(l, ts);
        else reclaim_foreign_lane(k, l, kh.gen, ts);
    }

    CloseRecord &c = rec.close;
    rec.closed = true;
    c.time_ms = now_ms();
    c.outcome = outcome;
    // The counters are authoritative for the totals; the tallies give the split by stack, and
    // what they do not cover was allocated without a stack (sizes-only mode): stack 0.
    c.blocks = f.live_blocks();
    c.bytes = uint64_t(f.live_bytes);
    uint64_t grouped_blocks = 0, grouped_bytes = 0;
    for (auto &[stack, agg] : by_stack) {
        if (agg.first <= 0) continue;
        c.stacks.push_back({stack, uint64_t(agg.first), uint64_t(agg.second)});
        grouped_blocks += uint64_t(agg.first);
        grouped_bytes += uint64_t(agg.second);
    }
    if (c.blocks > grouped_blocks) c.stacks.push_back({0, c.blocks - grouped_blocks, c.bytes - grouped_bytes});
    sort_groups(c.stacks);

    if (!k->left.empty() && options_.reclaim_left.load(std::memory_order_relaxed) == ReclaimLeft::Unreachable) {
        // The pass reads every key (their locks) and stops the other threads: not under k->mu.
        // The key stays Closing meanwhile, so a free of one of its blocks waits in free_left_behind.
        lock.unlock();
        reclaim_unreachable(k, kh.gen, ts, c);
        lock.lock();
    }

    rec.id = k->id.load(std::memory_order_relaxed);
    rec.name = k->name;
    rec.phase = KeyPhase::Closed;
    rec.opened_ms = k->opened_ms;
    rec.status = k->status;
    rec.peak_bytes = uint64_t(f.peak_bytes);
    rec.allocs = f.allocs;
    rec.reallocs = f.reallocs;
    rec.frees = f.frees;
    rec.misuse_count = k->misuse_count.load(std::memory_order_relaxed);
    rec.outcome_detail = k->outcome_detail;
    rec.crash_signal = k->crash_signal;
    rec.crash_address = k->crash_address;
    rec.crash_stack = k->crash_stack;
    rec.heap_allocs = heap_in;
    rec.heap_frees = heap_out + c.reclaimed_blocks; // a reclaim is a free of the key's block
    rec.heap_blocks = c.left_blocks;
    rec.heap_bytes = c.left_bytes;
    if (out) {
        out->blocks = c.blocks;
        out->bytes = c.bytes;
    }

    // The slot is free for a new key from here on, unless heap blocks were left behind: then it
    // stays with this key (Retired) until they are freed. The lanes of other threads are let go
    // by those threads (their heaps are theirs to delete).
    const bool retired = !k->left.empty();
    k->left_live_blocks = c.left_blocks;
    k->left_live_bytes = c.left_bytes;
    k->word.store(key_word(kh.gen, retired ? KeyState::Retired : KeyState::Free), std::memory_order_release);
    for (Lane *l = lanes, *next; l; l = next) {
        next = l->next_in_key;
        l->dead.store(true, std::memory_order_release);
        l->release();
    }
    sweep_dead_lanes(ts);
    history_.add_closed(std::move(rec));
    if (!retired) keys_.give_back(kh.slot);
    return NMERR_SUCCESS;
}

} // namespace nm::track

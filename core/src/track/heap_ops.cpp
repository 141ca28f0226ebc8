// heap_ops.cpp - the whole heap: malloc/new blocks served by mimalloc and recorded on module keys,
// and the frees, reallocs and misuse that reach them (nm::heap, called by libnmleak-heap.so).
//
// Every pointer handed out is one of three things, told apart by its live-map granule:
//   Live   a tracked block: 16-byte BlockHeader in front, charged to a module key;
//   Own    nmleak's own untracked block (made while the heap path was re-entered, before start(),
//          after stop_tracking(), or from nmleak's own code): freed with mi_free, never counted;
//   else   inside mimalloc's memory it is a bad pointer (double free, interior, garbage: a misuse
//          event, nothing freed); outside, it was made by glibc before us (or by someone calling
//          __libc_malloc): it goes back to glibc and is counted as a foreign free.
#include <nmleak/heap.hpp>

#include <dlfcn.h>
#include <errno.h>
#include <mimalloc.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "track/dwarf_unwind.hpp"
#include "track/module_keys.hpp"
#include "track/tracker.hpp"
#include "track/tsan.hpp"

extern "C" void __libc_free(void *);

#define NM_LIKELY(x) __builtin_expect(!!(x), 1)
#define NM_UNLIKELY(x) __builtin_expect(!!(x), 0)

namespace nm::track {

// Depth of heap-path re-entry on this thread: non-zero means "this block is nmleak's own".
thread_local int t_heap_busy __attribute__((tls_model("initial-exec"))) = 0;
// This thread had a tracker state: if t_state is null again, its TLS destructors already ran.
thread_local bool t_heap_seen __attribute__((tls_model("initial-exec"))) = false;

namespace {

std::atomic<bool> g_on{false}, g_started{false};
std::atomic<uint64_t> g_foreign_frees{0};
size_t (*g_libc_usable)(void *) = nullptr;
bool g_dwarf = true;
pid_t g_start_pid = 0;
std::mutex g_open_mu; // opening module keys
alignas(ModuleTable) unsigned char g_modules_mem[sizeof(ModuleTable)];
ModuleTable *g_modules = nullptr; // constructed by start(), never destroyed (frees run until the end)
ModuleEntry g_unknown;            // frames in no loaded object (generated code, a broken stack)

// Threads past their TLS destructors share one tracker state, one at a time.
std::atomic_flag g_orphan_lock = ATOMIC_FLAG_INIT;
ThreadState *g_orphan = nullptr;

struct Busy {
    Busy() noexcept { ++t_heap_busy; }
    ~Busy() { --t_heap_busy; }
};

inline size_t block_bytes(uint64_t n) noexcept { return (sizeof(BlockHeader) + (n ? n : 1) + 15) & ~size_t{15}; }
inline size_t round16(size_t n) noexcept { return n < 16 ? 16 : (n + 15) & ~size_t{15}; }

const char *fn_name(heap::Fn fn) noexcept {
    switch (fn) {
    case heap::Fn::Malloc: return "free";
    case heap::Fn::New: return "operator delete";
    case heap::Fn::NewArray: return "operator delete[]";
    }
    return "free";
}

} // namespace

struct HeapOps {
    // nmleak's own block: plain mimalloc, marked Own so its free is recognized. Sizes are rounded
    // to 16 so every such pointer has a granule of its own.
    static void *own_alloc(size_t n, size_t align, bool zero) noexcept {
        n = round16(n);
        void *p = align <= 16 ? (zero ? mi_zalloc(n) : mi_malloc(n)) : (zero ? mi_zalloc_aligned(n, align) : mi_malloc_aligned(n, align));
        // Before the tracker exists (its own construction) there is no map: such blocks are
        // never freed (the tracker lives until the process ends).
        if (Tracker *t = g_tracker; p && t)
            if (std::atomic<uint8_t> *g = t->live_map().find_or_create(reinterpret_cast<uintptr_t>(p)))
                g->store(uint8_t(Granule::Own), std::memory_order_release);
        if (!p) errno = ENOMEM;
        return p;
    }

    static ThreadState *state(Tracker &t) noexcept {
        ThreadState *ts = t_state;
        if (NM_LIKELY(ts)) return ts;
        if (t_heap_seen) return nullptr; // exiting thread: see orphan()
        t_heap_seen = true;
        return t.thread_state_slow();
    }

    // Walks (and hashes, in the same pass) the stack above the interposed function's frame.
    __attribute__((always_inline)) static Walk capture(ThreadState *ts, const void *frame, uintptr_t *buf, size_t want) noexcept {
        if (g_dwarf) {
            UnwindRegs r;
            return caller_regs(frame, ts->stack, r) ? unwind_dwarf(r, ts->stack, buf, want) : Walk{};
        }
        return walk_frame_pointers(frame, ts->stack, buf, want);
    }

    __attribute__((noinline)) static void *open_module_key(Tracker &t, const ModuleEntry *m) noexcept {
        std::lock_guard<std::mutex> lock(g_open_mu);
        auto &entry = const_cast<ModuleEntry &>(*m);
        if (void *h = entry.key.load(std::memory_order_acquire)) return h;
        // A module loaded again (dlclose, dlopen) keeps its key: one key per file name.
        void *h = nullptr;
        g_modules->for_each([&](const ModuleEntry &e) {
            if (!h && &e != m && std::strcmp(e.name, m->name) == 0) h = e.key.load(std::memory_order_acquire);
        });
        if (h) {
            entry.key.store(h, std::memory_order_release);
            return h;
        }
        h = t.open_key(m->name);
        KeyHandle kh;
        if (Key *k = t.keys().find(h, kh)) k->module.store(true, std::memory_order_release);
        entry.key.store(h, std::memory_order_release);
        return h;
    }

    static void *alloc(size_t n, size_t align, heap::Fn fn, bool zero, const void *frame) noexcept {
        if (NM_UNLIKELY(!g_tracker) && !t_heap_busy) {
            Busy b;
            Tracker::get(); // constructed here, on the process's first allocation
        }
        if (t_heap_busy || !g_on.load(std::memory_order_relaxed)) return own_alloc(n, align, zero);
        if (NM_UNLIKELY(n > kMaxBlockSize)) { errno = ENOMEM; return nullptr; }
        Busy busy;
        Tracker &t = *g_tracker;
        ThreadState *ts = state(t);
        if (NM_UNLIKELY(!ts)) return own_alloc(n, align, zero);

        // Attribution needs 16 frames even when fewer are kept (or none: sizes only).
        const uint32_t depth = t.options().depth.load(std::memory_order_relaxed);
        uintptr_t buf[StackDepot::kMaxDepth];
        const Walk w = capture(ts, frame, buf, depth < 16 ? 16 : depth);
        const ModuleEntry *m = g_modules->charged(buf, w.n, &g_unknown);
        if (m->role == ModuleRole::Own) return own_alloc(n, align, zero);
        uint32_t stack = 0;
        if (depth && w.n) {
            const uint32_t kept = w.n < depth ? w.n : depth;
            stack = ts->stacks.intern(t.depot_, buf, kept, kept == w.n ? w.hash : stack_hash(buf, kept));
        }
        // A thread working for an expert's run, in that expert's own module: the run key's block.
        if (NM_UNLIKELY(t_run_key != 0) && run_key_home(t, m)) {
            bool refused = false;
            void *p = alloc_on(t, ts, reinterpret_cast<void *>(t_run_key), true, n, align, fn, zero, stack, refused);
            if (!refused) return p;
        }
        void *handle = m->key.load(std::memory_order_acquire);
        if (NM_UNLIKELY(!handle)) handle = open_module_key(t, m);
        bool refused = false;
        void *p = alloc_on(t, ts, handle, false, n, align, fn, zero, stack, refused);
        return refused ? own_alloc(n, align, zero) : p;
    }

    // True when this thread's run key is open and its module is m (see nm::set_key_module).
    static bool run_key_home(Tracker &t, const ModuleEntry *m) noexcept {
        KeyHandle kh;
        const Key *k = t.keys().find(reinterpret_cast<void *>(t_run_key), kh);
        return k && m->link_map && k->home.load(std::memory_order_relaxed) == m->link_map;
    }

    // One block on key `handle`: a module key's, or (run) an expert run key's heap block, counted
    // apart from its API blocks. *refused when the key takes no blocks (closed meanwhile).
    static void *alloc_on(Tracker &t, ThreadState *ts, void *handle, bool run, size_t n, size_t align, heap::Fn fn,
                          bool zero, uint32_t stack, bool &refused) noexcept {
        KeyCall call(t, ts, handle);
        if (NM_UNLIKELY(run ? call.state() == KeyCall::State::Invalid : !call.open())) {
            refused = true;
            return nullptr;
        }
        Lane *lane = call.lane();
        const size_t bytes = block_bytes(n);
        void *block;
        if (align <= 16) block = zero ? mi_zalloc(bytes) : mi_malloc(bytes);
        else block = zero ? mi_zalloc_aligned_at(bytes, align, sizeof(BlockHeader)) : mi_malloc_aligned_at(bytes, align, sizeof(BlockHeader));
        tsan_allocated(block);
        if (NM_UNLIKELY(!block)) { errno = ENOMEM; return nullptr; }
        const uintptr_t user = reinterpret_cast<uintptr_t>(block) + sizeof(BlockHeader);
        std::atomic<uint8_t> *g = t.live_map().find_or_create(user);
        if (NM_UNLIKELY(!g)) {
            mi_free(block);
            errno = ENOMEM;
            return nullptr;
        }
        std::atomic<uint64_t> &made = run ? lane->heap_in : lane->allocs;
        const uint64_t count = made.load(std::memory_order_relaxed);
        if ((count & 63) == 0) lane->now_ms = uint32_t(t.now_ms());
        made.store(count + 1, std::memory_order_relaxed);
        // Module keys are never closed, and a close never frees heap blocks: no per-stack tally
        // (it only serves a close's reclaim).
        *header_of(user) = BlockHeader{stack | (uint32_t(fn) << 28), lane->now_ms, call.header_word(n)};
        g->store(uint8_t(Granule::Live), std::memory_order_release);
        lane->note_chunk(user);
        if (run) lane->heap_bytes.store(lane->heap_bytes.load(std::memory_order_relaxed) + int64_t(n), std::memory_order_relaxed);
        else lane->grow_bytes(int64_t(n));
        return reinterpret_cast<void *>(user);
    }

    // Publishes "this thread may hold claims on any key's blocks" before claiming (pairs with
    // wait_for_claims); the destructor takes it back.
    struct Claims {
        ThreadState *ts;
        Claims(Tracker &t, ThreadState *s) noexcept : ts(s) {
            ts->in_api.store(kClaimsAnyKey, std::memory_order_relaxed);
            if (t.options().heavy_fence) std::atomic_thread_fence(std::memory_order_seq_cst);
            else std::atomic_signal_fence(std::memory_order_seq_cst);
        }
        ~Claims() { ts->in_api.store(0, std::memory_order_release); }
        Claims(const Claims &) = delete;
        Claims &operator=(const Claims &) = delete;
    };

    // The misuse goes on the key of the module that made the bad call.
    __attribute__((noinline)) static void bad_pointer(Tracker &t, ThreadState *ts, uintptr_t p, uint8_t seen,
                                                      const char *fn, const void *frame) noexcept {
        uint32_t owner = 0;
        MisuseKind kind;
        if ((p & 15) == 0) {
            Claims claims(t, ts);
            kind = t.classify_bad_pointer(p, seen, owner);
        } else {
            kind = MisuseKind::UnknownPointer;
        }
        record(t, ts, nullptr, kind, fn, p, owner, frame);
    }

    static void record(Tracker &t, ThreadState *ts, Key *k, MisuseKind kind, const char *fn, uintptr_t p,
                       uint32_t owner, const void *frame) noexcept {
        if (!k) {
            uintptr_t buf[16];
            const ModuleEntry *m = g_modules->charged(buf, capture(ts, frame, buf, 16).n, &g_unknown);
            if (m->role == ModuleRole::Own) return;
            void *h = m->key.load(std::memory_order_acquire);
            if (!h) h = open_module_key(t, m);
            KeyHandle kh;
            k = t.keys().find(h, kh);
            if (!k) return;
        }
        t.record_misuse(k, kind, fn, p, owner, frame, ts);
    }

    // The block's key comes from its header, so the thread first marks itself as holding claims
    // on any key and reads the header under the block's claim; then it enters a call on that key
    // with KeyCall, the expert API's own prologue: a closer of the key either waits for this free
    // or this free sees the key closing and leaves the block to the closer.
    static void free_tracked(Tracker &t, ThreadState *ts, uintptr_t user, heap::Fn fn, const void *frame) noexcept {
        enum class Result { Freed, Mismatched, Raced, Corrupt, ApiBlock, Closing } result;
        Key *k = nullptr;
        uint32_t slot = 0, gen = 0;
        bool left_behind = false, mismatched = false;
        uint8_t seen = 0;
        {
            Claims claims(t, ts);
            std::atomic<uint8_t> *g = t.claim(user, seen);
            if (NM_UNLIKELY(!g)) {
                result = Result::Raced; // freed by another thread meanwhile
            } else {
                const BlockHeader h = *header_of(user);
                slot = header_slot(h.word);
                k = slot ? t.keys().at(slot) : nullptr;
                gen = k ? word_gen(k->word.load(std::memory_order_acquire)) : 0;
                const uint32_t made_by = header_fn(h.stack);
                if (NM_UNLIKELY(!k || check_header(h.word, slot, gen) != HeaderCheck::Ok)) {
                    Tracker::unclaim(g);
                    result = Result::Corrupt;
                } else if (NM_UNLIKELY(made_by == 0)) {
                    // An ExpertAllocMemory block: its key owns it, and frees it at close.
                    Tracker::unclaim(g);
                    result = Result::ApiBlock;
                } else {
                    KeyCall call(t, ts, reinterpret_cast<void *>(encode_key(slot, gen)));
                    const bool module = k->module.load(std::memory_order_relaxed);
                    if (NM_UNLIKELY(call.state() == KeyCall::State::Invalid)) {
                        Tracker::unclaim(g);
                        result = Result::Closing;
                        // An expert run's heap block that outlived the close: its key takes the free.
                        left_behind = !module;
                        mismatched = made_by != uint32_t(fn);
                    } else {
                        const uint64_t size = header_size(h.word);
                        // Freed before mi_free: afterwards the address may be handed out and marked again.
                        g->store(uint8_t(Granule::Freed), std::memory_order_release);
                        Lane *lane = call.lane();
                        if (module) {
                            Lane::bump(lane->frees);
                            lane->sub_bytes(int64_t(size));
                        } else { // outside the API: the key's heap figures
                            Lane::bump(lane->heap_out);
                            lane->heap_bytes.store(lane->heap_bytes.load(std::memory_order_relaxed) - int64_t(size),
                                                   std::memory_order_relaxed);
                        }
                        tsan_freeing(header_of(user));
                        mi_free(header_of(user));
                        // Freed all the same when the family is wrong: the program goes on.
                        result = made_by == uint32_t(fn) ? Result::Freed : Result::Mismatched;
                    }
                }
            }
        }
        if (left_behind) {
            t.free_left_behind(k, slot, gen, user, ts);
            if (mismatched) record(t, ts, k, MisuseKind::MismatchedFree, fn_name(fn), user, 0, frame);
            return;
        }
        switch (result) {
        case Result::Freed:
        case Result::Closing: return;
        case Result::Raced: bad_pointer(t, ts, user, seen, fn_name(fn), frame); return;
        case Result::Corrupt: record(t, ts, nullptr, MisuseKind::CorruptHeader, fn_name(fn), user, 0, frame); return;
        case Result::ApiBlock: record(t, ts, k, MisuseKind::MismatchedFree, fn_name(fn), user, slot, frame); return;
        case Result::Mismatched: record(t, ts, k, MisuseKind::MismatchedFree, fn_name(fn), user, 0, frame); return;
        }
    }

    static void release(void *p, heap::Fn fn, const void *frame) noexcept {
        if (!p) return;
        const uintptr_t u = reinterpret_cast<uintptr_t>(p);
        Tracker *tp = g_tracker;
        std::atomic<uint8_t> *g = tp && !(u & 15) ? tp->live_map().find(u) : nullptr;
        uint8_t v = g ? g->load(std::memory_order_acquire) : uint8_t(Granule::None);
        if (v == uint8_t(Granule::Own)) {
            if (g->compare_exchange_strong(v, uint8_t(Granule::None), std::memory_order_acq_rel)) {
                mi_free(p);
                return;
            }
        }
        const bool ours = v == uint8_t(Granule::Live) || v == uint8_t(Granule::Claimed);
        if (!ours && !mi_is_in_heap_region(p)) {
            g_foreign_frees.fetch_add(1, std::memory_order_relaxed);
            __libc_free(p);
            return;
        }
        if (!tp) return;
        Busy busy;
        Tracker &t = *tp;
        ThreadState *ts = state(t);
        const bool orphan = !ts;
        if (orphan) {
            while (g_orphan_lock.test_and_set(std::memory_order_acquire)) {}
            if (!g_orphan) {
                // Not thread_state_slow(): that would register a TLS destructor on a thread
                // that is past them. No stack bounds: misuse stacks of orphans are empty.
                auto *o = new (std::nothrow) ThreadState();
                if (!o) {
                    g_orphan_lock.clear(std::memory_order_release);
                    return;
                }
                o->serial = t.threads_.next_serial();
                t.threads_.add(o);
                g_orphan = o;
            }
            ts = g_orphan;
        }
        if (ours) free_tracked(t, ts, u, fn, frame);
        else if (g_on.load(std::memory_order_relaxed)) bad_pointer(t, ts, u, v, fn_name(fn), frame);
        if (orphan) g_orphan_lock.clear(std::memory_order_release);
    }

    static size_t usable(const void *p) noexcept {
        if (!p) return 0;
        const uintptr_t u = reinterpret_cast<uintptr_t>(p);
        Tracker *t = g_tracker;
        std::atomic<uint8_t> *g = t && !(u & 15) ? t->live_map().find(u) : nullptr;
        const uint8_t v = g ? g->load(std::memory_order_acquire) : uint8_t(Granule::None);
        if (v == uint8_t(Granule::Own)) return mi_usable_size(p);
        if (v == uint8_t(Granule::Live) || v == uint8_t(Granule::Claimed))
            return mi_usable_size(header_of(u)) - sizeof(BlockHeader);
        if (mi_is_in_heap_region(p)) return 0;
        return g_libc_usable ? g_libc_usable(const_cast<void *>(p)) : 0;
    }

    static void *realloc(void *p, size_t n, const void *frame) noexcept {
        if (!p) return alloc(n, 0, heap::Fn::Malloc, false, frame);
        if (n == 0) { // glibc: frees and returns NULL
            release(p, heap::Fn::Malloc, frame);
            return nullptr;
        }
        const uintptr_t u = reinterpret_cast<uintptr_t>(p);
        Tracker *t = g_tracker;
        std::atomic<uint8_t> *g = t && !(u & 15) ? t->live_map().find(u) : nullptr;
        uint8_t v = g ? g->load(std::memory_order_acquire) : uint8_t(Granule::None);
        if (v == uint8_t(Granule::Own) &&
            g->compare_exchange_strong(v, uint8_t(Granule::None), std::memory_order_acq_rel)) {
            // Unmarked first: once mi_realloc moved the block the old address may be reused.
            void *q = mi_realloc(p, round16(n));
            const uintptr_t qu = reinterpret_cast<uintptr_t>(q ? q : p);
            if (std::atomic<uint8_t> *qg = t->live_map().find_or_create(qu)) qg->store(uint8_t(Granule::Own), std::memory_order_release);
            if (!q) errno = ENOMEM;
            return q;
        }
        size_t old;
        if (v == uint8_t(Granule::Live) || v == uint8_t(Granule::Claimed)) old = usable(p);
        else if (!mi_is_in_heap_region(p)) old = g_libc_usable ? g_libc_usable(p) : 0;
        else {
            release(p, heap::Fn::Malloc, frame); // reports the bad pointer, frees nothing
            errno = ENOMEM;
            return nullptr;
        }
        void *q = alloc(n, 0, heap::Fn::Malloc, false, frame);
        if (!q) return nullptr;
        std::memcpy(q, p, old < n ? old : n);
        release(p, heap::Fn::Malloc, frame);
        return q;
    }

    // fork() with tracker locks held elsewhere would hand the child held locks: take them (in an
    // order where no holder waits for a later one) around the fork.
    static void fork_prepare() noexcept {
        Tracker &t = Tracker::get();
        t.history_.fork_lock();
        t.threads_.fork_lock();
        g_open_mu.lock();
        t.keys_.fork_lock();
        t.depot_.fork_lock();
        g_modules->lock();
    }
    static void fork_release() noexcept {
        Tracker &t = Tracker::get();
        g_modules->unlock();
        t.depot_.fork_unlock();
        t.keys_.fork_unlock();
        g_open_mu.unlock();
        t.threads_.fork_unlock();
        t.history_.fork_unlock();
    }
};

} // namespace nm::track

namespace nm::heap {

using track::HeapOps;

void *allocate(size_t n, size_t align, Fn fn, bool zero, const void *frame) noexcept {
    return HeapOps::alloc(n, align, fn, zero, frame);
}
void release(void *p, Fn fn, const void *frame) noexcept { HeapOps::release(p, fn, frame); }
void *reallocate(void *p, size_t n, const void *frame) noexcept { return HeapOps::realloc(p, n, frame); }
size_t usable_size(const void *p) noexcept { return HeapOps::usable(p); }

void *own_allocate(size_t n) noexcept {
    track::Busy busy;
    return HeapOps::own_alloc(n, 0, false);
}

void start(const char *wrappers) {
    using namespace track;
    if (g_started.exchange(true)) return;
    Busy busy;
    Tracker::get();
    g_modules = new (g_modules_mem) ModuleTable();
    g_modules->add_wrapper_patterns(wrappers);
    std::strcpy(g_unknown.name, "[unknown]");
    if (void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD))
        g_libc_usable = reinterpret_cast<size_t (*)(void *)>(dlsym(libc, "malloc_usable_size"));
    const char *u = std::getenv("NMLEAK_UNWIND");
    g_dwarf = !(u && std::strcmp(u, "fp") == 0);
    g_start_pid = getpid();
    pthread_atfork(HeapOps::fork_prepare, HeapOps::fork_release, HeapOps::fork_release);
    g_on.store(true, std::memory_order_release);
}

void stop_tracking() noexcept {
    track::g_on.store(false, std::memory_order_release);
    // A forked child that exits through exit() must not overwrite its parent's report.
    if (track::g_started.load() && getpid() != track::g_start_pid) {
        unsetenv("NMLEAK_REPORT");
        unsetenv("NMLEAK_FAIL_ON_LEAK");
    }
}

void objects_changed() noexcept {
    if (track::g_modules) track::g_modules->objects_changed();
    track::unwind_cache_flush();
}

bool active() noexcept { return track::g_started.load(std::memory_order_acquire); }
uint64_t foreign_frees() noexcept { return track::g_foreign_frees.load(std::memory_order_relaxed); }

uint64_t module_keys() noexcept {
    uint64_t n = 0;
    if (track::g_modules)
        track::g_modules->for_each([&](const track::ModuleEntry &e) { n += e.key.load() != nullptr; });
    return n;
}

} // namespace nm::heap

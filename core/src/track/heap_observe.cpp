// heap_observe.cpp - the whole heap of a process nmleak attached to: the process's own allocator
// (glibc) serves every block, and the agent's GOT hooks report each one here after the fact.
//
// Blocks are kept in a side table, sharded by address (a spin lock per shard, each shard an
// OpenTable with backward-shift deletion, arrays from mmap so nothing here goes back into the
// allocator). Each
// entry holds the size, the stack, the time and the module key's slot. Figures are kept per key
// slot and added to the key's record when the tracker is read (Tracker::read -> observe_fill), so
// observe_stop() can take them all back at once. Nothing here touches the tracker's lanes or live
// map: those belong to blocks that carry a BlockHeader.
//
// Misuse: a freed block's entry stays in the table as a "freed" entry (the newest kKeepFreed
// frees of each shard) until its address is handed out again through a hook. A second free of
// it is a double free: recorded, and not handed to glibc (whose own checks would abort the
// process, or worse, not notice). A pointer the table does not list is checked before it is
// called foreign: misaligned for glibc, in a loaded object's image (a global, a string literal),
// on the calling thread's stack, or without a glibc chunk header below it that glibc's free would
// accept (unreadable, or the data of a listed block it points into): an invalid free, recorded and
// not handed on. Anything else is taken to be a block made before the attach (or by a path no hook
// covers) and goes to glibc.
#include <nmleak/heap.hpp>

#include <dlfcn.h>
#include <pthread.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <new>

#include "track/dwarf_unwind.hpp"
#include "track/module_keys.hpp"
#include "track/observe.hpp"
#include "track/open_table.hpp"
#include "track/tracker.hpp"

namespace nm::track {
namespace {

struct Rec {
    uint64_t addr; // 0: empty
    uint64_t size;
    uint32_t stack;
    uint32_t time_ms;
    uint32_t slot;
    uint32_t fn;
};
static_assert(sizeof(Rec) == 32, "");

// Rec::fn of an entry whose block was freed (its time_ms is then the shard's free sequence).
constexpr uint32_t kFreedEntry = 0x100;
// Freed entries kept per shard: past kMaxFreed, the older ones beyond the newest kKeepFreed go.
constexpr uint32_t kMaxFreed = 128, kKeepFreed = 64;
// How far below a pointer a block it points into is looked for (16-byte steps).
constexpr uint64_t kInteriorReach = 1024;

void *map_pages(size_t bytes) noexcept {
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

// A shard's array: fresh anonymous pages (zero), never the process's allocator.
struct MappedMemory {
    static void *zeroed(size_t bytes) noexcept { return map_pages(bytes); }
    static void release(void *p, size_t bytes) noexcept { munmap(p, bytes); }
};

struct RecTraits {
    using Entry = Rec;
    using Key = uint64_t; // the block's address
    static Key key(const Rec &r) noexcept { return r.addr; }
    static void set_key(Rec &r, Key a) noexcept { r.addr = a; }
    static size_t hash(Key a) noexcept { return fib_spread(a >> 4, 0); }
    static constexpr uint32_t kMinCapacity = 128;
};

struct Shard {
    std::atomic_flag lock = ATOMIC_FLAG_INIT;
    uint32_t freed = 0; // freed entries
    uint32_t seq = 0;   // frees so far
    OpenTable<RecTraits, MappedMemory> recs; // live and freed entries

    uint32_t live() const noexcept { return recs.size() - freed; }
    void acquire() noexcept {
        while (lock.test_and_set(std::memory_order_acquire))
            while (lock.test(std::memory_order_relaxed)) __builtin_ia32_pause();
    }
    void release() noexcept { lock.clear(std::memory_order_release); }
};

struct SlotStats {
    std::atomic<int64_t> blocks{0}, bytes{0}, peak{0};
    std::atomic<uint64_t> allocs{0}, frees{0};
};

constexpr size_t kShards = 4096;
Shard *g_shards = nullptr;      // kShards, from mmap; never unmapped
SlotStats *g_stats = nullptr;   // kMaxKeys, from mmap; never unmapped
std::atomic<bool> g_observing{false};
// Every hook in place (not while entries are being redirected or put back: then a block may be
// made by a path no hook covers yet, at an address a hook saw freed).
std::atomic<bool> g_armed{false};
std::atomic<uint64_t> g_foreign{0}, g_replaced{0}, g_at_start{0}, g_refused{0};
std::atomic<uint64_t> g_largest{0}; // the largest block listed so far (bounds the interior search)
std::atomic<uint64_t> g_readable[1024]; // 2 MiB regions read before, + 1 (see read_word)
bool g_glibc_heap = true;               // malloc is glibc's: its chunk headers can be checked
std::mutex g_start_mu;
alignas(ModuleTable) unsigned char g_modules_mem[sizeof(ModuleTable)];
ModuleTable *g_modules = nullptr;
ModuleEntry g_unknown;
bool g_dwarf = true;
std::mutex g_open_mu;

// This thread had a tracker state: if t_state is null again, its TLS destructors already ran.
thread_local bool t_obs_seen __attribute__((tls_model("initial-exec"))) = false;
// The clock, read every 64th block of a thread (as the tracker's lanes do).
thread_local uint32_t t_obs_count __attribute__((tls_model("initial-exec"))) = 0;
thread_local uint32_t t_obs_time __attribute__((tls_model("initial-exec"))) = 0;

// By 4 KiB page, so the blocks an interior pointer may point into are in one or two shards.
inline Shard &shard_of(uint64_t a) noexcept { return g_shards[((a >> 12) * 0x9E3779B97F4A7C15ull) >> (64 - 12)]; }
inline bool is_freed(const Rec &r) noexcept { return (r.fn & kFreedEntry) != 0; }

// Under the shard's lock: drops the freed entries older than the newest kKeepFreed.
void forget_old_frees(Shard &s) noexcept {
    s.freed -= s.recs.erase_if([&](const Rec &r) { return is_freed(r) && s.seq - r.time_ms > kKeepFreed; });
}

void account_out(const Rec &r) noexcept {
    SlotStats &st = g_stats[r.slot];
    st.blocks.fetch_sub(1, std::memory_order_relaxed);
    st.bytes.fetch_sub(int64_t(r.size), std::memory_order_relaxed);
}

} // namespace

struct ObserveOps {
    // The module key's slot; 0 when none could be opened.
    __attribute__((noinline)) static uint32_t open_module_key(Tracker &t, const ModuleEntry *m) noexcept {
        std::lock_guard<std::mutex> lock(g_open_mu);
        auto &entry = const_cast<ModuleEntry &>(*m);
        void *h = entry.key.load(std::memory_order_acquire);
        if (!h) {
            // One key per file name, shared with a module loaded again.
            g_modules->for_each([&](const ModuleEntry &e) {
                if (!h && &e != m && std::strcmp(e.name, m->name) == 0) h = e.key.load(std::memory_order_acquire);
            });
            if (!h) {
                h = t.open_key(m->name);
                KeyHandle kh;
                if (Key *k = t.keys().find(h, kh)) k->module.store(true, std::memory_order_release);
            }
            entry.key.store(h, std::memory_order_release);
        }
        KeyHandle kh;
        return decode_key(h, kh) ? kh.slot : 0;
    }

    static void alloc(void *p, size_t n, heap::Fn fn, const void *frame) noexcept {
        if (!g_observing.load(std::memory_order_acquire)) return;
        Tracker &t = *g_tracker;
        ThreadState *ts = t_state;
        if (__builtin_expect(!ts, 0)) {
            if (t_obs_seen) return; // past this thread's TLS destructors: not recorded
            t_obs_seen = true;
            ts = t.thread_state_slow();
        }
        const uint32_t depth = t.options().depth.load(std::memory_order_relaxed);
        uintptr_t buf[StackDepot::kMaxDepth];
        Walk w;
        const size_t want = depth < 16 ? 16 : depth;
        if (g_dwarf) {
            UnwindRegs r;
            if (caller_regs(frame, ts->stack, r)) w = unwind_dwarf(r, ts->stack, buf, want);
        } else {
            w = walk_frame_pointers(frame, ts->stack, buf, want);
        }
        const ModuleEntry *m = g_modules->charged(buf, w.n, &g_unknown);
        if (m->role == ModuleRole::Own) return;
        void *h = m->key.load(std::memory_order_acquire);
        uint32_t slot;
        KeyHandle kh;
        if (__builtin_expect(h && decode_key(h, kh), 1)) slot = kh.slot;
        else slot = open_module_key(t, m);
        if (!slot) return;
        uint32_t stack = 0;
        if (depth && w.n) { // hashed during the walk; the thread's stack cache before the depot
            const uint32_t kept = w.n < depth ? w.n : depth;
            stack = ts->stacks.intern(t.depot_, buf, kept, kept == w.n ? w.hash : stack_hash(buf, kept));
        }
        if ((t_obs_count++ & 63) == 0) t_obs_time = uint32_t(t.now_ms());
        const Rec rec{uint64_t(reinterpret_cast<uintptr_t>(p)), uint64_t(n), stack, t_obs_time, slot, uint32_t(fn)};

        Shard &s = shard_of(rec.addr);
        s.acquire();
        if (!g_observing.load(std::memory_order_relaxed)) { // stopped meanwhile
            s.release();
            return;
        }
        bool inserted = false;
        Rec *e = s.recs.insert(rec.addr, &inserted);
        if (!e) { // no memory for a larger table
            s.release();
            return;
        }
        if (inserted) {
        } else if (is_freed(*e)) { // a freed block's address, handed out again
            --s.freed;
        } else { // freed by a path no hook saw, and handed out again
            account_out(*e);
            g_replaced.fetch_add(1, std::memory_order_relaxed);
        }
        *e = rec;
        s.release();
        if (__builtin_expect(n > g_largest.load(std::memory_order_relaxed), 0)) g_largest.store(n, std::memory_order_relaxed);
        SlotStats &st = g_stats[slot];
        st.allocs.fetch_add(1, std::memory_order_relaxed);
        st.blocks.fetch_add(1, std::memory_order_relaxed);
        const int64_t bytes = st.bytes.fetch_add(int64_t(n), std::memory_order_relaxed) + int64_t(n);
        for (int64_t peak = st.peak.load(std::memory_order_relaxed);
             bytes > peak && !st.peak.compare_exchange_weak(peak, bytes, std::memory_order_relaxed);) {}
    }

    static heap::Release release(void *p, uint64_t *size, heap::Fn fn, const void *frame, bool resize) noexcept {
        if (!g_observing.load(std::memory_order_acquire)) return heap::Release::Listed;
        const uint64_t a = uint64_t(reinterpret_cast<uintptr_t>(p));
        Shard &s = shard_of(a);
        s.acquire();
        Rec *e = s.recs.find(a);
        if (!e) {
            s.release();
            const MisuseKind bad = invalid_pointer(a);
            if (__builtin_expect(bad == MisuseKind::CorruptHeader, 1)) { // none: made before the attach
                g_foreign.fetch_add(1, std::memory_order_relaxed);
                return heap::Release::Foreign;
            }
            misuse(bad, fn, resize, a, frame);
            return heap::Release::Refused;
        }
        const Rec r = *e;
        const bool armed = g_armed.load(std::memory_order_relaxed);
        if (__builtin_expect(is_freed(r), 0)) {
            if (!armed) { // the hooks are being put in place or back: it may be anyone's block
                s.recs.erase(e);
                --s.freed;
                s.release();
                g_foreign.fetch_add(1, std::memory_order_relaxed);
                return heap::Release::Foreign;
            }
            s.release();
            misuse(MisuseKind::DoubleFree, fn, resize, a, frame);
            return heap::Release::Refused;
        }
        if (armed) { // kept as a freed entry (no block any more: the figures go now)
            e->fn |= kFreedEntry;
            e->time_ms = s.seq++;
            if (++s.freed > kMaxFreed) forget_old_frees(s);
        } else {
            s.recs.erase(e);
        }
        s.release();
        account_out(r);
        g_stats[r.slot].frees.fetch_add(1, std::memory_order_relaxed);
        if (size) *size = r.size;
        if (__builtin_expect(frame && r.fn != uint32_t(fn), 0)) mismatch(r, fn, frame);
        return heap::Release::Listed;
    }

    // True when a live listed block starts below a and reaches past it.
    static bool inside_listed(uint64_t a) noexcept {
        const uint64_t largest = g_largest.load(std::memory_order_relaxed);
        const uint64_t reach = largest < kInteriorReach ? largest : kInteriorReach;
        Shard *held = nullptr;
        bool found = false;
        for (uint64_t b = (a - 1) & ~uint64_t(15); !found && b + reach >= a && b >= 16; b -= 16) {
            Shard &s = shard_of(b);
            if (&s != held) {
                if (held) held->release();
                s.acquire();
                held = &s;
            }
            const Rec *e = s.recs.find(b);
            found = e && !is_freed(*e) && b + e->size > a;
        }
        if (held) held->release();
        return found;
    }

    // Reads 8 bytes at addr without faulting: directly when its 2 MiB region was readable before
    // (a block glibc made is in a region that stays mapped while the block lives), else through
    // process_vm_readv on this process (EFAULT for unmapped or PROT_NONE pages), remembering the
    // region on success. Under a sanitizer's allocator always by the system call: the bytes below
    // a block are its own metadata, which instrumented code must not read.
    static bool read_word(uint64_t addr, uint64_t *out) noexcept {
        const uint64_t region = addr >> 21;
        std::atomic<uint64_t> &slot = g_readable[(region * 0x9E3779B97F4A7C15ull) >> (64 - 10)];
        if (g_glibc_heap && slot.load(std::memory_order_relaxed) == region + 1) {
            std::memcpy(out, reinterpret_cast<const void *>(addr), 8);
            return true;
        }
        iovec local{out, 8}, remote{reinterpret_cast<void *>(addr), 8};
        if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != 8) return false;
        slot.store(region + 1, std::memory_order_relaxed);
        return true;
    }

    // The 16 bytes below a hold the header of a chunk glibc handed out: a size glibc's free
    // accepts and, not mmapped, a next chunk that says this one is in use (glibc keeps that bit
    // set for every chunk in use, cached ones included); mmapped, a page-aligned mapping around it.
    // False too when the header cannot be read: glibc's free would fault or abort on it.
    static bool chunk_header_at(uint64_t a) noexcept {
        uint64_t prev, size;
        if (a < 16 || !read_word(a - 16, &prev) || !read_word(a - 8, &size)) return false;
        const uint64_t cs = size & ~uint64_t(7), page = uint64_t(getpagesize());
        if (cs < 32 || (cs & 15) || cs > (uint64_t(1) << 40)) return false;
        if (size & 2) return ((a - 16 - prev) & (page - 1)) == 0 && ((prev + cs) & (page - 1)) == 0;
        const uint64_t next = a - 16 + cs;
        uint64_t next_size;
        if (next < a || !read_word(next + 8, &next_size)) return false;
        return (next_size & 1) != 0 && (next_size & ~uint64_t(7)) >= 16;
    }

    // Why a pointer the table does not list cannot be a block glibc made; CorruptHeader (never
    // returned otherwise) when it can. The interior search runs only for a pointer refused anyway
    // (it names the kind), so a block made before the attach costs a few loads and, the first
    // time in a 2 MiB region, a system call.
    __attribute__((noinline)) static MisuseKind invalid_pointer(uint64_t a) noexcept {
        if (a & 15) // glibc's blocks are 16-byte aligned: its free would abort
            return inside_listed(a) ? MisuseKind::InteriorPointer : MisuseKind::UnknownPointer;
        dl_find_object fo;
        if (_dl_find_object(reinterpret_cast<void *>(a), &fo) == 0) return MisuseKind::UnknownPointer;
        if (const ThreadState *ts = t_state; ts && a >= ts->stack.lo && a < ts->stack.hi)
            return MisuseKind::UnknownPointer;
        if (g_glibc_heap) {
            if (chunk_header_at(a)) return MisuseKind::CorruptHeader;
            return inside_listed(a) ? MisuseKind::InteriorPointer : MisuseKind::UnknownPointer;
        }
        // Another allocator (a sanitizer's, in nmleak's own tests): no header to check, and the
        // bytes below a block may not be mapped (its first block sits at the start of a region);
        // a pointer that could be its block is readable itself.
        uint64_t word;
        if (!read_word(a, &word)) return MisuseKind::UnknownPointer;
        return inside_listed(a) ? MisuseKind::InteriorPointer : MisuseKind::CorruptHeader;
    }

    // Recorded on the key of the module that made the bad call, as the whole heap of `nmleak run`
    // does.
    __attribute__((noinline)) static void misuse(MisuseKind kind, heap::Fn fn, bool resize, uint64_t a,
                                                 const void *frame) noexcept {
        Tracker &t = *g_tracker;
        ThreadState *ts = t_state;
        if (!frame) return;
        if (!ts) {
            if (t_obs_seen) return;
            t_obs_seen = true;
            ts = t.thread_state_slow();
        }
        uintptr_t buf[16];
        Walk w;
        if (g_dwarf) {
            UnwindRegs r;
            if (caller_regs(frame, ts->stack, r)) w = unwind_dwarf(r, ts->stack, buf, 16);
        } else {
            w = walk_frame_pointers(frame, ts->stack, buf, 16);
        }
        const ModuleEntry *m = g_modules->charged(buf, w.n, &g_unknown);
        if (m->role == ModuleRole::Own) return;
        void *h = m->key.load(std::memory_order_acquire);
        KeyHandle kh;
        const uint32_t slot = h && decode_key(h, kh) ? kh.slot : open_module_key(t, m);
        Key *k = slot ? t.keys().at(slot) : nullptr;
        if (!k) return;
        const char *name = resize ? "realloc"
                           : fn == heap::Fn::New ? "operator delete"
                           : fn == heap::Fn::NewArray ? "operator delete[]" : "free";
        g_refused.fetch_add(1, std::memory_order_relaxed);
        t.record_misuse(k, kind, name, uintptr_t(a), 0, frame, ts);
    }

    __attribute__((noinline)) static void mismatch(const Rec &r, heap::Fn fn, const void *frame) noexcept {
        Tracker &t = *g_tracker;
        ThreadState *ts = t_state;
        Key *k = t.keys().at(r.slot);
        if (!ts || !k) return;
        const char *name = fn == heap::Fn::New ? "operator delete" : fn == heap::Fn::NewArray ? "operator delete[]" : "free";
        t.record_misuse(k, MisuseKind::MismatchedFree, name, uintptr_t(r.addr), 0, frame, ts);
    }
};

// fork() while another thread holds one of these locks would hand the child a lock nobody
// releases: its next allocation would spin for ever. They are all taken around the fork, in an
// order where no holder waits for a later one (as the whole heap's own handlers do).
struct ObserveFork {
    static void prepare() noexcept {
        Tracker &t = Tracker::get();
        t.history_.fork_lock();
        t.threads_.fork_lock();
        g_open_mu.lock();
        t.keys_.fork_lock();
        t.depot_.fork_lock();
        g_modules->lock();
        for (size_t i = 0; i < kShards; ++i) g_shards[i].acquire();
    }
    static void release() noexcept {
        Tracker &t = Tracker::get();
        for (size_t i = kShards; i-- > 0;) g_shards[i].release();
        g_modules->unlock();
        t.depot_.fork_unlock();
        t.keys_.fork_unlock();
        g_open_mu.unlock();
        t.threads_.fork_unlock();
        t.history_.fork_unlock();
    }
};

void observe_fill(uint32_t slot, KeyRecord &rec, bool include_blocks) {
    if (!g_stats || slot >= kMaxKeys) return;
    const SlotStats &st = g_stats[slot];
    const int64_t blocks = st.blocks.load(std::memory_order_relaxed);
    const int64_t bytes = st.bytes.load(std::memory_order_relaxed);
    rec.live_blocks += uint64_t(blocks > 0 ? blocks : 0);
    rec.live_bytes += uint64_t(bytes > 0 ? bytes : 0);
    rec.peak_bytes += uint64_t(st.peak.load(std::memory_order_relaxed));
    rec.allocs += st.allocs.load(std::memory_order_relaxed);
    rec.frees += st.frees.load(std::memory_order_relaxed);
    if (!include_blocks || blocks <= 0) return;
    for (size_t i = 0; i < kShards; ++i) {
        Shard &s = g_shards[i];
        s.acquire();
        s.recs.for_each([&](const Rec &r) {
            // Copied without allocating under the lock: reserve happened below for most keys.
            if (!is_freed(r) && r.slot == slot && rec.blocks.size() < rec.blocks.capacity())
                rec.blocks.push_back({r.addr, r.size, r.stack, r.time_ms, 1u});
        });
        s.release();
    }
}

void observe_reserve(uint32_t slot, KeyRecord &rec) {
    if (!g_stats || slot >= kMaxKeys) return;
    const int64_t blocks = g_stats[slot].blocks.load(std::memory_order_relaxed);
    // Some headroom for blocks made while the shards are read.
    if (blocks > 0) rec.blocks.reserve(rec.blocks.size() + size_t(blocks) + size_t(blocks) / 4 + 64);
}

} // namespace nm::track

namespace nm::heap {

using track::ObserveOps;

bool observe_start(const char *wrappers, const char **error) noexcept {
    using namespace track;
    std::lock_guard<std::mutex> lock(g_start_mu);
    if (active()) {
        if (error) *error = "the heap is served and tracked by nmleak already (nmleak run)";
        return false;
    }
    if (g_observing.load()) return true;
    Tracker &t = Tracker::get();
    (void)t;
    if (!g_shards) {
        g_shards = static_cast<Shard *>(map_pages(sizeof(Shard) * kShards));
        g_stats = static_cast<SlotStats *>(map_pages(sizeof(SlotStats) * kMaxKeys));
        if (!g_shards || !g_stats) {
            if (error) *error = "out of memory for the block table";
            return false;
        }
        for (size_t i = 0; i < kShards; ++i) new (&g_shards[i]) Shard();
        // g_stats: fresh anonymous pages are zero, which is what every SlotStats starts as;
        // constructing them would touch all 2.5 MiB while the borrowed thread waits.
        g_modules = new (g_modules_mem) ModuleTable();
        g_modules->add_wrapper_patterns(wrappers);
        std::strcpy(g_unknown.name, "[unknown]");
        const char *u = std::getenv("NMLEAK_UNWIND");
        g_dwarf = !(u && std::strcmp(u, "fp") == 0);
        // `nmleak attach` refuses a process whose malloc is not glibc's; a sanitizer's runtime in
        // nmleak's own tests is the one other allocator this sees.
        for (const char *runtime : {"__asan_init", "__tsan_init", "__msan_init", "__hwasan_init", "__lsan_do_leak_check"})
            if (dlsym(RTLD_DEFAULT, runtime)) g_glibc_heap = false;
        pthread_atfork(ObserveFork::prepare, ObserveFork::release, ObserveFork::release);
    }
    const struct mallinfo2 mi = mallinfo2();
    g_at_start.store(uint64_t(mi.uordblks + mi.hblkhd), std::memory_order_relaxed);
    g_foreign.store(0, std::memory_order_relaxed);
    g_replaced.store(0, std::memory_order_relaxed);
    g_armed.store(false, std::memory_order_relaxed);
    g_observing.store(true, std::memory_order_release);
    return true;
}

void observe_arm(bool armed) noexcept { track::g_armed.store(armed, std::memory_order_release); }

void observe_stop() noexcept {
    using namespace track;
    std::lock_guard<std::mutex> lock(g_start_mu);
    if (!g_observing.load()) return;
    g_armed.store(false, std::memory_order_release);
    g_observing.store(false, std::memory_order_release);
    // Every insert checks g_observing under its shard's lock, so once a shard is emptied here it
    // stays empty.
    for (size_t i = 0; i < kShards; ++i) {
        Shard &s = g_shards[i];
        s.acquire();
        s.recs.for_each([](const Rec &r) {
            if (!is_freed(r)) account_out(r);
        });
        s.recs.clear();
        s.freed = s.seq = 0;
        s.release();
    }
    for (uint32_t k = 0; k < kMaxKeys; ++k) g_stats[k].peak.store(0, std::memory_order_relaxed);
}

void observed_objects_changed() noexcept {
    if (track::g_modules) track::g_modules->objects_changed();
    track::unwind_cache_flush();
}

bool observing() noexcept { return track::g_observing.load(std::memory_order_acquire); }

void observed_alloc(void *p, size_t n, Fn fn, const void *frame) noexcept { ObserveOps::alloc(p, n, fn, frame); }
bool observed_free(void *p, uint64_t *size, Fn fn, const void *frame) noexcept {
    return ObserveOps::release(p, size, fn, frame, false) == Release::Listed;
}
Release observed_release(void *p, uint64_t *size, Fn fn, const void *frame, bool resize) noexcept {
    return ObserveOps::release(p, size, fn, frame, resize);
}
uint64_t observed_refused() noexcept { return track::g_refused.load(std::memory_order_relaxed); }
uint64_t observed_foreign_frees() noexcept { return track::g_foreign.load(std::memory_order_relaxed); }
// Counted from the shards (a process-wide counter would be one more cache line every allocating
// thread writes).
uint64_t observed_blocks() noexcept {
    using namespace track;
    if (!g_shards) return 0;
    uint64_t n = 0;
    for (size_t i = 0; i < kShards; ++i) {
        Shard &s = g_shards[i];
        s.acquire();
        n += s.live();
        s.release();
    }
    return n;
}
uint64_t observed_replaced() noexcept { return track::g_replaced.load(std::memory_order_relaxed); }
uint64_t observed_foreign_at_start() noexcept { return track::g_at_start.load(std::memory_order_relaxed); }

} // namespace nm::heap

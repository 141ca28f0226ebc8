// workload.cpp - one allocation workload, built per allocator (nmleak API, mimalloc, glibc, LSan).
//
// The allocator is chosen at compile time (NM_WORKLOAD_NMLEAK / _MIMALLOC / _MALLOC / _LSAN), so the
// timed loop is the same machine code around a different call. Modes:
//   mix    each thread runs --ops random operations over its own --slots live slots (fixed seed):
//          an empty slot gets an allocation (16-256 bytes, 1 in 8 up to 4 KiB), a full one is freed
//          (3 in 4) or reallocated to a new size (1 in 4). Every operation runs 16 frames deep
//          (a recursive noinline chain) so stack capture walks a realistic stack. Prints the time
//          per operation per thread: wall time of the timed loop (all threads) / ops per thread,
//          and the loop threads' CPU time / all ops.
//   churn  the workload the targets are stated for: each thread owns --slots live slots (10,000 by
//          default for this mode), filled first; each timed operation picks a slot at random and
//          frees and reallocates it (9 in 10) or reallocs it (1 in 10); sizes 85% 16-256 B, 14%
//          1-4 KiB, 1% 64 KiB; 16 frames deep like mix. --key-per-thread gives each thread its own
//          key (nmleak), otherwise all threads share one.
//   rss    allocates --blocks blocks of 32 bytes from one call site and prints the resident
//          memory they added (/proc/self/statm) per block.
//   close  allocates --blocks blocks of 32 bytes on a worker thread, then releases all of them:
//          NmCloseExpertKey for nmleak (--close-from own: on the worker; other: from the main
//          thread while the worker waits; exited: after the worker exited), one free per block for
//          the others. Prints ns per block.
// Output: one line of key=value pairs for compare.py. Everything allocated is freed before exit,
// so LeakSanitizer's exit-time check stays silent while its malloc stack capture stays on.
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(NM_WORKLOAD_NMLEAK)
#include <nmhost.h>
static const char *const kVariant = "nmleak";
#elif defined(NM_WORKLOAD_MIMALLOC)
#include <mimalloc.h>
static const char *const kVariant = "mimalloc";
#elif defined(NM_WORKLOAD_LSAN)
static const char *const kVariant = "lsan";
#else
static const char *const kVariant = "malloc";
#endif

namespace {

constexpr int kDepth = 16; // frames between the thread's entry and the allocation call

// The allocator under test. `key` is only meaningful for nmleak.
struct Allocator {
#if defined(NM_WORKLOAD_NMLEAK)
    HEXPERTKEY key = nullptr;
    void *alloc(size_t n) { return ExpertAllocMemory(key, n, nullptr); }
    void *realloc(void *p, size_t n) { return ExpertReallocMemory(key, p, n, nullptr); }
    void free(void *p) { ExpertFreeMemory(key, p); }
#elif defined(NM_WORKLOAD_MIMALLOC)
    void *key = nullptr;
    void *alloc(size_t n) { return mi_malloc(n); }
    void *realloc(void *p, size_t n) { return mi_realloc(p, n); }
    void free(void *p) { mi_free(p); }
#else
    void *key = nullptr;
    void *alloc(size_t n) { return std::malloc(n); }
    void *realloc(void *p, size_t n) { return std::realloc(p, n); }
    void free(void *p) { std::free(p); }
#endif
};

void open_key(Allocator &a, const char *name) {
#if defined(NM_WORKLOAD_NMLEAK)
    a.key = NmOpenExpertKey(name);
    if (a.key == nullptr) {
        std::fprintf(stderr, "workload: NmOpenExpertKey failed\n");
        std::exit(2);
    }
#else
    (void)a;
    (void)name;
#endif
}

// Returns the ns NmCloseExpertKey took (nmleak), 0 otherwise.
uint64_t close_key(Allocator &a, uint64_t *blocks) {
#if defined(NM_WORKLOAD_NMLEAK)
    NMCLEANUPINFO info{};
    auto t0 = std::chrono::steady_clock::now();
    NmCloseExpertKey(a.key, NM_OUTCOME_FAILED, &info);
    auto t1 = std::chrono::steady_clock::now();
    a.key = nullptr;
    if (blocks) *blocks = info.Blocks;
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
#else
    (void)a;
    if (blocks) *blocks = 0;
    return 0;
#endif
}

struct Options {
    std::string mode = "mix";
    int threads = 1;
    uint64_t ops = 2000000; // per thread
    uint64_t slots = 65536; // per thread, power of two
    uint64_t seed = 42;
    uint64_t blocks = 1000000;
    std::string close_from = "own";
    bool key_per_thread = false;
};

uint64_t next_random(uint64_t &s) { // xorshift64*
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
}

size_t pick_size(uint64_t r) {
    return (r & 7) == 0 ? 256 + (r >> 3) % 3841 : 16 + (r >> 3) % 241;
}

// churn sizes: 85% 16-256 B, 14% 1-4 KiB, 1% 64 KiB.
size_t churn_size(uint64_t r) {
    const uint64_t u = r % 100, v = r >> 8;
    if (u < 85) return 16 + v % 241;
    if (u < 99) return 1024 + v % 3073;
    return 65536;
}

struct Worker {
    Allocator *alloc;
    std::vector<void *> slots;
    uint64_t rng;
    uint64_t mask;
    bool churn = false;

    void fill() {
        for (void *&p : slots) {
            const size_t n = churn_size(next_random(rng) >> 16);
            p = alloc->alloc(n);
            std::memset(p, 0xab, 16);
        }
    }

    void step() {
        if (churn) return churn_step();
        uint64_t r = next_random(rng);
        void *&p = slots[r & mask];
        uint64_t s = r >> 20;
        if (p == nullptr) {
            size_t n = pick_size(s);
            p = alloc->alloc(n);
            std::memset(p, 0xab, 16);
        } else if (((r >> 16) & 3) == 0) {
            size_t n = pick_size(s);
            p = alloc->realloc(p, n);
            static_cast<unsigned char *>(p)[n - 1] = 1;
        } else {
            alloc->free(p);
            p = nullptr;
        }
    }

    void churn_step() {
        const uint64_t r = next_random(rng);
        void *&p = slots[((r >> 32) * slots.size()) >> 32];
        const size_t n = churn_size(r >> 8);
        if ((r & 0xff) < 26) { // 26/256: about 1 in 10
            p = alloc->realloc(p, n);
        } else {
            alloc->free(p);
            p = alloc->alloc(n);
        }
        static_cast<unsigned char *>(p)[0] = 1;
        static_cast<unsigned char *>(p)[n - 1] = 1;
    }

    void release_all() {
        for (void *&p : slots)
            if (p != nullptr) alloc->free(p), p = nullptr;
    }
};

// One operation `depth` frames down: every operation pays the same call chain in every variant. The
// empty asm after the call keeps it from becoming a tail call (or the recursion a loop), so each
// level keeps its frame.
__attribute__((noinline)) void step_at_depth(int depth, Worker &w) {
    if (depth > 1) {
        step_at_depth(depth - 1, w);
        asm volatile("" ::: "memory");
        return;
    }
    w.step();
}

uint64_t now_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

// CPU time of the calling thread: unlike wall time, not inflated while the thread waits for a core
// on a busy machine (but blind to work done in other processes, such as heaptrack's interpreter).
uint64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

int run_mix(const Options &o) {
    std::vector<Allocator> allocs(o.key_per_thread ? size_t(o.threads) : 1);
    for (auto &a : allocs) open_key(a, "workload");
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<uint64_t> done(size_t(o.threads), 0), cpu(size_t(o.threads), 0);
    uint64_t start = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < o.threads; ++t) {
        threads.emplace_back([&, t] {
            Worker w{&allocs[o.key_per_thread ? size_t(t) : 0],
                     std::vector<void *>(o.slots, nullptr),
                     o.seed * 0x9E3779B97F4A7C15ull + uint64_t(t) + 1, o.slots - 1, o.mode == "churn"};
            // Warm-up (not timed): mix brings the live set to its steady state (~4/7 of slots
            // full); churn fills every slot.
            if (w.churn) w.fill();
            else for (uint64_t i = 0; i < 4 * o.slots; ++i) step_at_depth(kDepth, w);
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            uint64_t cpu0 = thread_cpu_ns();
            for (uint64_t i = 0; i < o.ops; ++i) step_at_depth(kDepth, w);
            done[size_t(t)] = now_ns();
            cpu[size_t(t)] = thread_cpu_ns() - cpu0;
            w.release_all();
        });
    }
    while (ready.load() < o.threads) std::this_thread::yield();
    start = now_ns();
    go.store(true, std::memory_order_release);
    for (auto &th : threads) th.join();
    uint64_t end = 0;
    for (uint64_t d : done) end = d > end ? d : end;
    for (auto &a : allocs) close_key(a, nullptr);
    double ns_per_op = double(end - start) / double(o.ops);
    uint64_t cpu_total = 0;
    for (uint64_t c : cpu) cpu_total += c;
    double cpu_ns_per_op = double(cpu_total) / double(o.ops * uint64_t(o.threads));
    std::printf("variant=%s mode=%s threads=%d keys=%s ops=%llu slots=%llu ns_per_op=%.2f "
                "cpu_ns_per_op=%.2f\n",
                kVariant, o.mode.c_str(), o.threads, o.key_per_thread ? "per-thread" : "shared", (unsigned long long)o.ops, (unsigned long long)o.slots,
                ns_per_op, cpu_ns_per_op);
    return 0;
}

long resident_pages() {
    long size = 0, resident = 0;
    if (FILE *f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
        std::fclose(f);
    }
    return resident;
}

int run_rss(const Options &o) {
    Allocator a;
    open_key(a, "workload-rss");
    // The pointer array is allocated and touched before the first reading; a first allocation and
    // free set up the allocator's (and the tracker's) per-thread state.
    std::vector<void *> ptrs(o.blocks, nullptr);
    a.free(a.alloc(32));
    long before = resident_pages();
    for (uint64_t i = 0; i < o.blocks; ++i) {
        ptrs[i] = a.alloc(32);
        std::memset(ptrs[i], 1, 8);
    }
    long after = resident_pages();
    double per_block = double(after - before) * double(sysconf(_SC_PAGESIZE)) / double(o.blocks);
    for (void *p : ptrs) a.free(p);
    close_key(a, nullptr);
    std::printf("variant=%s mode=rss blocks=%llu bytes_per_block=%.2f\n", kVariant,
                (unsigned long long)o.blocks, per_block);
    return 0;
}

int run_close(const Options &o) {
    Allocator a;
    open_key(a, "workload-close");
    std::vector<void *> ptrs(o.blocks, nullptr);
    std::mutex mu;
    std::condition_variable cv;
    bool allocated = false, released = false;
    uint64_t ns = 0, blocks = 0;
    bool nmleak = std::strcmp(kVariant, "nmleak") == 0;
    auto release = [&] {
        if (nmleak) {
            ns = close_key(a, &blocks);
        } else {
            uint64_t t0 = now_ns();
            for (void *p : ptrs) a.free(p);
            ns = now_ns() - t0;
            blocks = o.blocks;
        }
    };
    std::thread worker([&] {
        for (uint64_t i = 0; i < o.blocks; ++i) ptrs[i] = a.alloc(32);
        if (o.close_from == "own") {
            release();
            return;
        }
        std::unique_lock lock(mu);
        allocated = true;
        cv.notify_all();
        if (o.close_from == "other") cv.wait(lock, [&] { return released; });
    });
    if (o.close_from == "own") {
        worker.join();
    } else {
        {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return allocated; });
        }
        if (o.close_from == "exited") worker.join();
        release();
        {
            std::lock_guard lock(mu);
            released = true;
            cv.notify_all();
        }
        if (worker.joinable()) worker.join();
    }
    if (blocks != o.blocks) {
        std::fprintf(stderr, "workload: close reclaimed %llu blocks, expected %llu\n",
                     (unsigned long long)blocks, (unsigned long long)o.blocks);
        return 1;
    }
    std::printf("variant=%s mode=close from=%s blocks=%llu ns_per_block=%.3f\n", kVariant,
                o.close_from.c_str(), (unsigned long long)o.blocks, double(ns) / double(o.blocks));
    return 0;
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: workload_%s [--mode mix|churn|rss|close] [--threads N] [--ops N] [--slots N]\n"
                 "       [--seed N] [--blocks N] [--close-from own|other|exited] "
                 "[--key-per-thread]\n",
                 kVariant);
    std::exit(2);
}

Options parse(int argc, char **argv) {
    Options o;
    bool slots_given = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        auto number = [&]() -> uint64_t {
            std::string v = value();
            char *end = nullptr;
            unsigned long long n = std::strtoull(v.c_str(), &end, 10);
            if (end == v.c_str() || *end != '\0') usage();
            return n;
        };
        if (arg == "--mode") o.mode = value();
        else if (arg == "--threads") o.threads = int(number());
        else if (arg == "--ops") o.ops = number();
        else if (arg == "--slots") o.slots = number(), slots_given = true;
        else if (arg == "--seed") o.seed = number();
        else if (arg == "--blocks") o.blocks = number();
        else if (arg == "--close-from") o.close_from = value();
        else if (arg == "--key-per-thread") o.key_per_thread = true;
        else usage();
    }
    if (o.mode == "churn" && !slots_given) o.slots = 10000;
    bool pow2 = o.slots != 0 && (o.slots & (o.slots - 1)) == 0;
    if (o.threads < 1 || o.threads > 64 || (o.mode != "churn" && !pow2) || o.slots == 0 || o.blocks == 0) usage();
    if (o.close_from != "own" && o.close_from != "other" && o.close_from != "exited") usage();
    return o;
}

} // namespace

int main(int argc, char **argv) {
    Options o = parse(argc, argv);
    if (o.mode == "mix" || o.mode == "churn") return run_mix(o);
    if (o.mode == "rss") return run_rss(o);
    if (o.mode == "close") return run_close(o);
    usage();
}

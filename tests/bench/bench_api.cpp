// bench_api.cpp - Google Benchmark micro-benchmarks of the expert API beside mi_malloc and glibc malloc.
//
// Paired cases, one binary, one run: compare rows, never absolute numbers across machines.
//   AllocFree/<variant>/<size>   one alloc + free pair, called 16 frames deep; variants api_stacks
//                                (default depth), api_nostacks (NmSetStackDepth(0)), mi, malloc,
//                                and descent (the 16-frame call chain alone, to subtract)
//   ReallocGrowth/<variant>      16 bytes grown by doubling to 64 KiB, then freed (counter: per realloc)
//   MemorySize/<variant>         ExpertMemorySize vs mi_usable_size / malloc_usable_size
//   Close/<from>/<blocks>        NmCloseExpertKey of a key holding N 32-byte blocks, from the
//                                allocating thread (own), from another thread while the allocating
//                                one is alive (other) or after it exited (exited); counter
//                                ns_per_block. FreeEach/<mi|malloc>/<blocks> is the baseline: one free
//                                per block.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <malloc.h>
#include <nmhost.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr DWORD kDefaultDepth = 32; // the tracker's depth when NMLEAK_STACK_DEPTH is unset
constexpr int kCallDepth = 16;

// mimalloc, loaded RTLD_LOCAL: linking Debian's libmimalloc into this executable would replace
// glibc's malloc for the whole process (it exports malloc/free) and void the malloc baseline.
struct Mimalloc {
    void *(*malloc)(size_t) = nullptr;
    void (*free)(void *) = nullptr;
    void *(*realloc)(void *, size_t) = nullptr;
    size_t (*usable_size)(const void *) = nullptr;
    int (*version)() = nullptr;
};

const Mimalloc &mi() {
    static const Mimalloc m = [] {
        Mimalloc r;
        void *h = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
        if (h == nullptr) {
            std::fprintf(stderr, "bench_api: cannot load libmimalloc.so.2: %s\n", dlerror());
            std::exit(2);
        }
        r.malloc = reinterpret_cast<void *(*)(size_t)>(dlsym(h, "mi_malloc"));
        r.free = reinterpret_cast<void (*)(void *)>(dlsym(h, "mi_free"));
        r.realloc = reinterpret_cast<void *(*)(void *, size_t)>(dlsym(h, "mi_realloc"));
        r.usable_size = reinterpret_cast<size_t (*)(const void *)>(dlsym(h, "mi_usable_size"));
        r.version = reinterpret_cast<int (*)()>(dlsym(h, "mi_version"));
        if (!r.malloc || !r.free || !r.realloc || !r.usable_size) std::exit(2);
        return r;
    }();
    return m;
}

enum class Variant { ApiStacks, ApiNoStacks, Mi, Malloc };

bool is_api(Variant v) { return v == Variant::ApiStacks || v == Variant::ApiNoStacks; }

// The allocator behind one benchmark; API variants get their own key for the benchmark's run.
struct Allocator {
    Variant v;
    HEXPERTKEY key = nullptr;

    explicit Allocator(Variant variant) : v(variant) {
        if (is_api(v)) {
            NmSetStackDepth(v == Variant::ApiStacks ? kDefaultDepth : 0);
            key = NmOpenExpertKey("bench_api");
        }
    }
    ~Allocator() {
        if (key != nullptr) NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr);
        NmSetStackDepth(kDefaultDepth);
    }
    void *alloc(size_t n) {
        switch (v) {
        case Variant::Mi: return mi().malloc(n);
        case Variant::Malloc: return std::malloc(n);
        default: return ExpertAllocMemory(key, n, nullptr);
        }
    }
    void *realloc(void *p, size_t n) {
        switch (v) {
        case Variant::Mi: return mi().realloc(p, n);
        case Variant::Malloc: return std::realloc(p, n);
        default: return ExpertReallocMemory(key, p, n, nullptr);
        }
    }
    void free(void *p) {
        switch (v) {
        case Variant::Mi: mi().free(p); break;
        case Variant::Malloc: std::free(p); break;
        default: ExpertFreeMemory(key, p);
        }
    }
    size_t size(void *p) {
        switch (v) {
        case Variant::Mi: return mi().usable_size(p);
        case Variant::Malloc: return malloc_usable_size(p);
        default: return ExpertMemorySize(key, p);
        }
    }
};

// Runs f() `depth` frames down; the empty asm keeps each level's frame (no tail call, no loop).
template <class F> __attribute__((noinline)) void at_depth(int depth, F &f) {
    if (depth > 1) {
        at_depth(depth - 1, f);
        asm volatile("" ::: "memory");
        return;
    }
    f();
}

template <Variant V> void BM_AllocFree(benchmark::State &state) {
    Allocator a(V);
    size_t n = size_t(state.range(0));
    auto pair = [&] {
        void *p = a.alloc(n);
        benchmark::DoNotOptimize(p);
        a.free(p);
    };
    for (auto _ : state) at_depth(kCallDepth, pair);
}

void BM_Descent(benchmark::State &state) {
    auto nothing = [] { benchmark::ClobberMemory(); };
    for (auto _ : state) at_depth(kCallDepth, nothing);
}

constexpr int kReallocSteps = 12; // 16 -> 64 KiB

template <Variant V> void BM_ReallocGrowth(benchmark::State &state) {
    Allocator a(V);
    auto grow = [&] {
        void *p = a.alloc(16);
        for (size_t n = 32; n <= (size_t(16) << kReallocSteps); n *= 2) {
            p = a.realloc(p, n);
            static_cast<char *>(p)[n - 1] = 1;
        }
        a.free(p);
    };
    for (auto _ : state) at_depth(kCallDepth, grow);
    state.counters["t_per_realloc"] = benchmark::Counter(
        kReallocSteps, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

template <Variant V> void BM_MemorySize(benchmark::State &state) {
    Allocator a(V);
    void *p = a.alloc(100);
    for (auto _ : state) benchmark::DoNotOptimize(a.size(p));
    a.free(p);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void fill(HEXPERTKEY key, size_t blocks) {
    for (size_t i = 0; i < blocks; ++i) benchmark::DoNotOptimize(ExpertAllocMemory(key, 32, nullptr));
}

enum class CloseFrom { Own, Other, Exited };

template <CloseFrom From> void BM_Close(benchmark::State &state) {
    NmSetStackDepth(kDefaultDepth);
    size_t blocks = size_t(state.range(0));
    double total = 0;
    for (auto _ : state) {
        HEXPERTKEY key = NmOpenExpertKey("bench_close");
        double t = 0;
        NMCLEANUPINFO info{};
        if (From == CloseFrom::Own) {
            fill(key, blocks);
            auto t0 = std::chrono::steady_clock::now();
            NmCloseExpertKey(key, NM_OUTCOME_FAILED, &info);
            t = seconds_since(t0);
        } else {
            std::mutex mu;
            std::condition_variable cv;
            bool filled = false, closed = false;
            std::thread worker([&] {
                fill(key, blocks);
                std::unique_lock lock(mu);
                filled = true;
                cv.notify_all();
                if (From == CloseFrom::Other) cv.wait(lock, [&] { return closed; });
            });
            {
                std::unique_lock lock(mu);
                cv.wait(lock, [&] { return filled; });
            }
            if (From == CloseFrom::Exited) worker.join();
            auto t0 = std::chrono::steady_clock::now();
            NmCloseExpertKey(key, NM_OUTCOME_FAILED, &info);
            t = seconds_since(t0);
            {
                std::lock_guard lock(mu);
                closed = true;
                cv.notify_all();
            }
            if (worker.joinable()) worker.join();
        }
        if (info.Blocks != blocks) state.SkipWithError("close reclaimed the wrong number of blocks");
        state.SetIterationTime(t);
        total += t;
    }
    state.counters["ns_per_block"] = total * 1e9 / (double(blocks) * double(state.iterations()));
}

template <Variant V> void BM_FreeEach(benchmark::State &state) {
    Allocator a(V);
    size_t blocks = size_t(state.range(0));
    std::vector<void *> ptrs(blocks);
    double total = 0;
    for (auto _ : state) {
        for (auto &p : ptrs) p = a.alloc(32);
        auto t0 = std::chrono::steady_clock::now();
        for (void *p : ptrs) a.free(p);
        double t = seconds_since(t0);
        state.SetIterationTime(t);
        total += t;
    }
    state.counters["ns_per_block"] = total * 1e9 / (double(blocks) * double(state.iterations()));
}

void alloc_sizes(benchmark::internal::Benchmark *b) {
    for (int n : {16, 32, 256, 4096}) b->Arg(n);
}

// Close benchmarks time only the release (manual time); the fills before it are untimed, so
// NM_CLOSE_CASES fixes the iterations: a 1M-block case then costs a few hundred ms of fills, not
// the default minimum time's worth of them.
void close_sizes(benchmark::internal::Benchmark *b) {
    b->UseManualTime()->Unit(benchmark::kMicrosecond);
}

} // namespace

BENCHMARK(BM_Descent)->Name("AllocFree/descent");
BENCHMARK_TEMPLATE(BM_AllocFree, Variant::ApiStacks)->Name("AllocFree/api_stacks")->Apply(alloc_sizes);
BENCHMARK_TEMPLATE(BM_AllocFree, Variant::ApiNoStacks)->Name("AllocFree/api_nostacks")->Apply(alloc_sizes);
BENCHMARK_TEMPLATE(BM_AllocFree, Variant::Mi)->Name("AllocFree/mi")->Apply(alloc_sizes);
BENCHMARK_TEMPLATE(BM_AllocFree, Variant::Malloc)->Name("AllocFree/malloc")->Apply(alloc_sizes);

BENCHMARK_TEMPLATE(BM_ReallocGrowth, Variant::ApiStacks)->Name("ReallocGrowth/api_stacks");
BENCHMARK_TEMPLATE(BM_ReallocGrowth, Variant::ApiNoStacks)->Name("ReallocGrowth/api_nostacks");
BENCHMARK_TEMPLATE(BM_ReallocGrowth, Variant::Mi)->Name("ReallocGrowth/mi");
BENCHMARK_TEMPLATE(BM_ReallocGrowth, Variant::Malloc)->Name("ReallocGrowth/malloc");

BENCHMARK_TEMPLATE(BM_MemorySize, Variant::ApiStacks)->Name("MemorySize/api");
BENCHMARK_TEMPLATE(BM_MemorySize, Variant::Mi)->Name("MemorySize/mi");
BENCHMARK_TEMPLATE(BM_MemorySize, Variant::Malloc)->Name("MemorySize/malloc");

#define NM_CLOSE_CASES(fn, name)                                                                  \
    BENCHMARK_TEMPLATE fn->Name(name)->Apply(close_sizes)->Arg(1000)->Iterations(300);            \
    BENCHMARK_TEMPLATE fn->Name(name)->Apply(close_sizes)->Arg(100000)->Iterations(10);           \
    BENCHMARK_TEMPLATE fn->Name(name)->Apply(close_sizes)->Arg(1000000)->Iterations(3)

NM_CLOSE_CASES((BM_Close, CloseFrom::Own), "Close/own");
NM_CLOSE_CASES((BM_Close, CloseFrom::Other), "Close/other");
NM_CLOSE_CASES((BM_Close, CloseFrom::Exited), "Close/exited");
NM_CLOSE_CASES((BM_FreeEach, Variant::Mi), "FreeEach/mi");
NM_CLOSE_CASES((BM_FreeEach, Variant::Malloc), "FreeEach/malloc");

int main(int argc, char **argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    // Which malloc the baseline really calls (glibc's unless something interposed it).
    Dl_info info{};
    void *(*malloc_fn)(size_t) = &std::malloc;
    if (dladdr(reinterpret_cast<void *>(malloc_fn), &info) != 0 && info.dli_fname != nullptr)
        benchmark::AddCustomContext("malloc_from", info.dli_fname);
    if (mi().version != nullptr) benchmark::AddCustomContext("mimalloc", std::to_string(mi().version()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

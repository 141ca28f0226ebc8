// heap_expert.cpp - an expert that allocates through the API and through the C and C++ heap, for
// the whole-heap expert tests (tests/integration/test_heap_experts.cpp). NMT_HEAP_MODE picks the
// run:
//   leak  leaks 1000 + 24 API bytes, a new'd 3000-byte buffer, a strdup'd string and a 1500-byte
//         malloc made on a thread it starts; frees one heap block of its own; returns TRUE.
//   fail  holds 512 API bytes and a new'd 2048-byte buffer (published in nmt_kept, which the host
//         frees after the run) and a strdup'd string, waits for terminate, returns FALSE.
//   bench times malloc(32) + free pairs on the run's thread (printed).
//   reclaim holds 64 API bytes; new's 8 blocks of 1000 bytes and an unreachable cycle of two
//         256-byte nodes and drops every pointer to them (10 blocks, 8512 bytes nothing reaches);
//         new's 3 blocks of 700 bytes kept in nmt_kept_list and a 333-byte block only the first
//         of them points to (4 blocks, 2433 bytes still reachable); returns TRUE. The host checks
//         and frees the kept ones after the run (check-kept).
//   reclaim-bench  new's NMT_BLOCKS blocks of 64 bytes and keeps every other one (for the close
//         time of the reclaim, tests/heap_support/reclaim_bench.cpp).
#include <netmon.h>
#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <cstring>

extern "C" {

__attribute__((visibility("default"))) void *nmt_kept = nullptr;
__attribute__((visibility("default"))) char *nmt_string = nullptr;
__attribute__((visibility("default"))) void *nmt_thread_block = nullptr; // made on the expert's thread
__attribute__((visibility("default"))) volatile int nmt_holding = 0; // the fail run holds its memory
__attribute__((visibility("default"))) char *nmt_kept_list[3] = {}; // the reclaim run's kept blocks
__attribute__((visibility("default"))) char **nmt_bench_kept = nullptr; // reclaim-bench: the kept half

}

namespace {

__attribute__((noinline)) void *heap_thread_main(void *) {
    nmt_thread_block = std::malloc(1500);
    std::memset(nmt_thread_block, 1, 1500);
    return nullptr;
}

__attribute__((noinline)) void leak_new_buffer() {
    char *b = new char[3000];
    std::memset(b, 2, 3000);
    asm volatile("" : : "r"(b) : "memory");
}

__attribute__((noinline)) void leak_strdup() {
    nmt_string = strdup("a string the expert left on the heap");
}

__attribute__((noinline)) void keep_new_buffer() {
    char *b = new char[2048];
    std::memset(b, 3, 2048);
    nmt_kept = b;
}

__attribute__((noinline)) void use_and_free() {
    void *p = std::malloc(640);
    std::memset(p, 4, 640);
    asm volatile("" : : "r"(p) : "memory");
    std::free(p);
}

struct Node {
    Node *next;
    char pad[248];
};

__attribute__((noinline)) void drop_blocks() {
    for (int i = 0; i < 8; ++i) {
        char *b = new char[1000];
        std::memset(b, 6, 1000);
        asm volatile("" : : "r"(b) : "memory");
    }
    Node *a = new Node, *b = new Node; // a cycle: each points to the other, nothing else to either
    std::memset(a->pad, 7, sizeof a->pad);
    std::memset(b->pad, 7, sizeof b->pad);
    a->next = b;
    b->next = a;
    asm volatile("" : : "r"(a), "r"(b) : "memory");
}

__attribute__((noinline)) void keep_blocks() {
    for (int i = 0; i < 3; ++i) {
        nmt_kept_list[i] = new char[700];
        std::memset(nmt_kept_list[i], 'a' + i, 700);
    }
    char *inner = new char[333]; // reached only through a kept block
    std::memset(inner, 'z', 333);
    std::memcpy(nmt_kept_list[0], &inner, sizeof inner);
}

} // namespace

// malloc(32) + free pairs, ns per pair (the README's cost of the run-key path).
extern "C" __attribute__((visibility("default"))) double nmt_malloc_free_ns(int n) {
    timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; ++i) {
        void *p = std::malloc(32);
        asm volatile("" : : "r"(p) : "memory");
        std::free(p);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double(t1.tv_sec - t0.tv_sec) * 1e9 + double(t1.tv_nsec - t0.tv_nsec)) / n;
}

extern "C" {

__attribute__((visibility("default"))) BOOL WINAPI Register(PEXPERTENUMINFO info) {
    std::strncpy(info->szName, "heap-expert", EXPERTSTRINGLENGTH - 1);
    return TRUE;
}

__attribute__((visibility("default"))) BOOL WINAPI Run(HEXPERTKEY key, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    const char *mode = std::getenv("NMT_HEAP_MODE");
    if (mode && std::strcmp(mode, "fail") == 0) {
        ExpertAllocMemory(key, 512, nullptr);
        keep_new_buffer();
        leak_strdup();
        __atomic_store_n(&nmt_holding, 1, __ATOMIC_RELEASE);
        while (ExpertIndicateStatus(key, EXPERTSTATUS_RUNNING, 0, "holding heap memory", 10) != NMERR_EXPERT_TERMINATE) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, nullptr);
        }
        return FALSE;
    }
    if (mode && std::strcmp(mode, "reclaim") == 0) {
        ExpertAllocMemory(key, 64, nullptr);
        drop_blocks();
        keep_blocks();
        return TRUE;
    }
    if (mode && std::strcmp(mode, "reclaim-bench") == 0) { // NMT_BLOCKS blocks of 64 bytes, every other one kept
        const char *n_text = std::getenv("NMT_BLOCKS");
        const long n = n_text ? std::atol(n_text) : 100000;
        ExpertAllocMemory(key, 16, nullptr); // a host's own thread works for the key from here on
        nmt_bench_kept = new char *[size_t(n) / 2 + 1];
        for (long i = 0; i < n; ++i) {
            char *b = new char[64];
            std::memset(b, 1, 64);
            if (i % 2 == 0) nmt_bench_kept[i / 2] = b;
            asm volatile("" : : "r"(b) : "memory");
        }
        return TRUE;
    }
    if (mode && std::strcmp(mode, "bench") == 0) {
        std::printf("expert run thread: %.1f ns per malloc+free\n", nmt_malloc_free_ns(2000000));
        return TRUE;
    }
    ExpertAllocMemory(key, 1000, nullptr);
    ExpertAllocMemory(key, 24, nullptr);
    leak_new_buffer();
    leak_strdup();
    use_and_free();
    pthread_t t;
    if (pthread_create(&t, nullptr, heap_thread_main, nullptr) == 0) pthread_join(t, nullptr);
    return TRUE;
}

} // extern "C"

// heap_expert.cpp - an expert that allocates through the API and through the C and C++ heap, for
// the whole-heap expert tests (tests/integration/test_heap_experts.cpp). NMT_HEAP_MODE picks the
// run:
//   leak  leaks 1000 + 24 API bytes, a new'd 3000-byte buffer, a strdup'd string and a 1500-byte
//         malloc made on a thread it starts; frees one heap block of its own; returns TRUE.
//   fail  holds 512 API bytes and a new'd 2048-byte buffer (published in nmt_kept, which the host
//         frees after the run) and a strdup'd string, waits for terminate, returns FALSE.
//   bench times malloc(32) + free pairs on the run's thread (printed).
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

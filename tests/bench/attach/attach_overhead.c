/* attach_overhead.c - the per-call cost of an observed heap: THREADS threads (argv[1], default 1)
 * make malloc+free pairs (sizes 16..1040 bytes, 8 blocks live per thread, called from this
 * executable through its PLT); every 200 ms the main thread prints the mean ns a pair takes one
 * thread: "window NS". attach_bench.py attaches and detaches it meanwhile. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static atomic_ulong pairs;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

__attribute__((noinline)) static void *make(size_t n) { return malloc(n); }

static void *worker(void *arg) {
    void *live[8] = {0};
    uint64_t i = (uint64_t)(uintptr_t)arg * 7919;
    for (;;) {
        for (int k = 0; k < 1000; ++k, ++i) {
            free(live[i & 7]);
            live[i & 7] = make(16 + (i * 2654435761u) % 1025);
        }
        atomic_fetch_add(&pairs, 1000);
    }
    return NULL;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready %d\n", (int)getpid());
    for (int t = 0; t < threads; ++t) {
        pthread_t th;
        pthread_create(&th, NULL, worker, (void *)(uintptr_t)(t + 1));
    }
    for (;;) {
        const double start = now_ns();
        const unsigned long before = atomic_load(&pairs);
        struct timespec pause = {0, 200000000};
        nanosleep(&pause, NULL);
        const unsigned long done = atomic_load(&pairs) - before;
        if (done) printf("window %.1f\n", (now_ns() - start) * threads / (double)done);
    }
}

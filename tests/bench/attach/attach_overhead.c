/* attach_overhead.c - the per-call cost of an observed heap: one thread makes malloc+free pairs
 * (sizes 16..1040 bytes, 8 blocks live at a time, called from this executable through its PLT)
 * and prints the mean ns per pair of every 200 ms window: "window NS". attach_bench.py attaches
 * and detaches it meanwhile. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

__attribute__((noinline)) static void *make(size_t n) { return malloc(n); }

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready %d\n", (int)getpid());
    void *live[8] = {0};
    uint64_t i = 0;
    for (;;) {
        const double start = now_ns();
        uint64_t pairs = 0;
        while (now_ns() - start < 200e6) {
            for (int k = 0; k < 1000; ++k, ++i) {
                free(live[i & 7]);
                live[i & 7] = make(16 + (i * 2654435761u) % 1025);
            }
            pairs += 1000;
        }
        printf("window %.1f\n", (now_ns() - start) / (double)pairs);
    }
}

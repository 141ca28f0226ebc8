// reclaim_bench.cpp - the close time of a key whose run left many heap blocks behind: opens a key,
// calls heap_expert.so's Run (NMT_HEAP_MODE=reclaim-bench: NMT_BLOCKS new'd blocks, half of them
// kept) on this thread, makes NMT_HOST_BLOCKS live blocks of its own, and times NmCloseExpertKey.
// Under `nmleak run` with and without --reclaim-left-behind (README, the whole heap).
#include <netmon.h>
#include <nmhost.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "load_run.hpp"

using nmt::RunFn;

static double now_ms() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

int main(int argc, char **argv) {
    const RunFn run = nmt::load_run(argc, argv);
    if (!run) return 2;
    const char *host_text = std::getenv("NMT_HOST_BLOCKS");
    const long host_blocks = host_text ? std::atol(host_text) : 0;
    void **mine = static_cast<void **>(std::calloc(size_t(host_blocks) + 1, sizeof(void *)));
    for (long i = 0; i < host_blocks; ++i) mine[i] = std::malloc(48);
    setenv("NMT_HEAP_MODE", "reclaim-bench", 1);
    HEXPERTKEY key = NmOpenExpertKey("bench");
    if (!key) return 2;
    const BOOL ok = run(key, nullptr, nullptr, 0, nullptr);
    const double t0 = now_ms();
    NMCLEANUPINFO info{};
    if (NmCloseExpertKey(key, ok ? NM_OUTCOME_DONE : NM_OUTCOME_FAILED, &info) != NMERR_SUCCESS) return 2;
    const double t1 = now_ms();
    std::printf("close: %.2f ms\n", t1 - t0);
    for (long i = 0; i < host_blocks; ++i) std::free(mine[i]);
    std::free(mine);
    return 0;
}

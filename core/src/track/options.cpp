// options.cpp - reading the tracker's settings from the environment; the process-wide barrier.
#include "track/options.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "track/stack_depot.hpp"
#include "track/unwind.hpp"

namespace nm::track {
namespace {

uint32_t env_depth() {
    const char *s = std::getenv("NMLEAK_STACK_DEPTH");
    if (!s || !*s) return 32;
    char *end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (*end || v < 0) {
        std::fprintf(stderr, "nmleak: NMLEAK_STACK_DEPTH=%s is not a number of frames; using 32\n", s);
        return 32;
    }
    return uint32_t(std::min<long>(v, StackDepot::kMaxDepth));
}

} // namespace

void Options::load_from_environment() noexcept {
    depth.store(env_depth(), std::memory_order_relaxed);
    if (const char *u = std::getenv("NMLEAK_UNWIND")) {
        if (std::strcmp(u, "libunwind") == 0) use_libunwind = load_libunwind();
        else if (std::strcmp(u, "fp") != 0)
            std::fprintf(stderr, "nmleak: NMLEAK_UNWIND=%s unknown (fp or libunwind); using fp\n", u);
    }
    if (const char *r = std::getenv("NMLEAK_RECLAIM_LEFT_BEHIND"); r && *r) {
        if (std::strcmp(r, "unreachable") == 0) reclaim_left.store(ReclaimLeft::Unreachable, std::memory_order_relaxed);
        else if (std::strcmp(r, "0") != 0 && std::strcmp(r, "off") != 0 && std::strcmp(r, "none") != 0)
            std::fprintf(stderr, "nmleak: NMLEAK_RECLAIM_LEFT_BEHIND=%s unknown (unreachable or off); reclaiming none\n", r);
    }
    heavy_fence = syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0;
}

void Options::barrier() const noexcept {
    if (!heavy_fence) syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    else std::atomic_thread_fence(std::memory_order_seq_cst);
}

} // namespace nm::track

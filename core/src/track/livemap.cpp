// livemap.cpp - leaf creation and range clearing for the live-block byte map.
#include "track/livemap.hpp"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nm::track {

LiveMap::LiveMap() {
    // MAP_NORESERVE: 256 MiB of address space, resident only where a leaf pointer is written.
    void *mem = mmap(nullptr, kTopEntries * sizeof(*top_), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        std::fprintf(stderr, "nmleak: cannot reserve the live-block map (%s)\n", strerror(errno));
        std::abort();
    }
    top_ = static_cast<std::atomic<std::atomic<uint8_t> *> *>(mem);
}

std::atomic<uint8_t> *LiveMap::create_slow(uintptr_t p) noexcept {
    if (p >> kAddressBits) return nullptr;
    auto &slot = top_[p >> kLeafShift];
    std::atomic<uint8_t> *leaf = slot.load(std::memory_order_acquire);
    if (!leaf) {
        void *mem = mmap(nullptr, kLeafBytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (mem == MAP_FAILED) return nullptr;
        auto *fresh = static_cast<std::atomic<uint8_t> *>(mem);
        if (slot.compare_exchange_strong(leaf, fresh, std::memory_order_acq_rel)) {
            leaf = fresh;
        } else {
            munmap(mem, kLeafBytes); // another thread won; `leaf` now holds its leaf
        }
    }
    return leaf + ((p & ((uintptr_t{1} << kLeafShift) - 1)) >> kGranuleShift);
}

void LiveMap::clear_range(uintptr_t begin, uintptr_t end) noexcept {
    begin &= ~uintptr_t{15};
    while (begin < end) {
        uintptr_t leaf_end = (begin | ((uintptr_t{1} << kLeafShift) - 1)) + 1;
        uintptr_t stop = leaf_end < end ? leaf_end : end;
        if (std::atomic<uint8_t> *g = find(begin)) {
            size_t n = (stop - begin + 15) >> kGranuleShift;
            // The area belongs to a heap that is being destroyed by its owner: no other thread can
            // legitimately use these granules, so a bulk clear is enough (and 10x cheaper than
            // per-byte atomic stores for a million blocks).
#if defined(__SANITIZE_THREAD__)
            for (size_t i = 0; i < n; ++i) g[i].store(0, std::memory_order_relaxed); // TSan sees atomics
#else
            std::memset(reinterpret_cast<void *>(g), 0, n);
#endif
        }
        begin = stop;
    }
    std::atomic_thread_fence(std::memory_order_release);
}

} // namespace nm::track

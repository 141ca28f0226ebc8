// livemap.hpp - which addresses are the start of a live tracked block, without touching the block.
//
// One byte per 16-byte granule of the address space, in a two-level radix table: a top array of
// 2^25 leaf pointers (256 MiB virtual, only touched pages become resident) and 256 KiB leaves that
// each cover 4 MiB of addresses. Tracked user pointers are 16-aligned, so every block start has its
// own byte. This is what lets Free/Realloc/MemorySize refuse a wild, interior, freed or foreign
// pointer before ever dereferencing it: the block header is read only once the byte says "live"
// and the caller has claimed it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace nm::track {

enum class Granule : uint8_t {
    None = 0,    // not the start of a tracked block (or unknown)
    Live = 1,    // start of a live block
    Claimed = 2, // live, and one thread is reading/changing its header right now
    Freed = 3,   // was the start of a block that was freed (tells double free from unknown)
    Own = 4,     // start of an untracked block of nmleak's own made by the heap shim (whole-heap mode)
};

class LiveMap {
public:
    static constexpr unsigned kGranuleShift = 4;
    static constexpr unsigned kLeafShift = 22; // 4 MiB of addresses per leaf
    static constexpr unsigned kAddressBits = 47;
    static constexpr size_t kLeafBytes = size_t{1} << (kLeafShift - kGranuleShift);
    static constexpr size_t kTopEntries = size_t{1} << (kAddressBits - kLeafShift);

    LiveMap();
    LiveMap(const LiveMap &) = delete;
    LiveMap &operator=(const LiveMap &) = delete;

    // The granule byte for p, or nullptr when p is outside the map or its leaf was never created
    // (then p cannot be a tracked block). p must be 16-aligned.
    std::atomic<uint8_t> *find(uintptr_t p) const noexcept {
        if (p >> kAddressBits) return nullptr;
        std::atomic<uint8_t> *leaf = top_[p >> kLeafShift].load(std::memory_order_acquire);
        if (!leaf) return nullptr;
        return leaf + ((p & ((uintptr_t{1} << kLeafShift) - 1)) >> kGranuleShift);
    }

    // Like find(), creating the leaf if needed (for a freshly allocated block). nullptr only if
    // the address is out of range or the leaf cannot be mapped.
    std::atomic<uint8_t> *find_or_create(uintptr_t p) noexcept {
        std::atomic<uint8_t> *g = find(p);
        return g ? g : create_slow(p);
    }

    // Marks every granule in [begin, end) None. Used when a whole heap area dies at once.
    void clear_range(uintptr_t begin, uintptr_t end) noexcept;

    // Calls fn(address) for each Live or Claimed granule in [begin, end).
    template <class Fn> void for_each_live(uintptr_t begin, uintptr_t end, Fn &&fn) const;

private:
    std::atomic<uint8_t> *create_slow(uintptr_t p) noexcept;
    std::atomic<std::atomic<uint8_t> *> *top_;
};

template <class Fn> void LiveMap::for_each_live(uintptr_t begin, uintptr_t end, Fn &&fn) const {
    begin &= ~uintptr_t{15};
    while (begin < end) {
        uintptr_t leaf_end = (begin | ((uintptr_t{1} << kLeafShift) - 1)) + 1;
        uintptr_t stop = leaf_end < end ? leaf_end : end;
        std::atomic<uint8_t> *g = find(begin);
        if (!g) { begin = stop; continue; }
        for (uintptr_t a = begin; a < stop; a += 16, ++g) {
            uint8_t v = g->load(std::memory_order_relaxed);
            if (v == uint8_t(Granule::Live) || v == uint8_t(Granule::Claimed)) fn(a);
        }
        begin = stop;
    }
}

} // namespace nm::track

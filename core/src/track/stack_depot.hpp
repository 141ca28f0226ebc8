// stack_depot.hpp - interns call stacks: equal stacks share one 32-bit id.
//
// Lookups are lock-free (a hash table of chain heads, records never move or die); inserting a new
// stack takes a mutex. Storage comes from mmap, never from the tracked allocator or malloc, so
// interning is safe from any allocation path. Id 0 is the empty stack.
//
// Stacks are hashed while they are walked (stack_hash_step per frame, then stack_hash_finish), so
// interning never makes a second pass to hash; the depot compares whole stacks only on a miss of
// the per-thread StackCache in front of it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace nm::track {

inline constexpr uint64_t kStackHashSeed = 0x9E3779B97F4A7C15ull;
// Three instructions a frame (rotate, xor, multiply): the rotation brings the previous product's
// well-mixed high bits down before the next frame goes in, so every bit of every frame reaches
// every bit of the hash within a few steps; stack_hash_finish() avalanches the rest. The running
// hash stays in one register (no copy per frame).
inline uint64_t stack_hash_step(uint64_t h, uintptr_t frame) noexcept {
    return (((h << 31) | (h >> 33)) ^ frame) * 0xff51afd7ed558ccdull;
}
inline uint64_t stack_hash_finish(uint64_t h, uint32_t n) noexcept {
    h ^= n;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}
inline uint64_t stack_hash(const uintptr_t *f, uint32_t n) noexcept {
    uint64_t h = kStackHashSeed;
    for (uint32_t i = 0; i < n; ++i) h = stack_hash_step(h, f[i]);
    return stack_hash_finish(h, n);
}

class StackDepot {
public:
    static constexpr uint32_t kMaxDepth = 64;
    static constexpr uint32_t kDefaultCapacity = 1u << 28;

    // Holds up to capacity - 1 stacks (id 0 is the empty one); then intern() returns 0.
    explicit StackDepot(uint32_t capacity = kDefaultCapacity);
    StackDepot(const StackDepot &) = delete;
    StackDepot &operator=(const StackDepot &) = delete;

    // The id of this stack (innermost frame first, hash = stack_hash(frames, n)); 0 for n == 0 or
    // if the depot is full.
    uint32_t intern(const uintptr_t *frames, uint32_t n, uint64_t hash) noexcept;
    uint32_t intern(const uintptr_t *frames, uint32_t n) noexcept { return intern(frames, n, stack_hash(frames, n)); }
    // Copies stack `id` into out; false for an unknown id.
    bool get(uint32_t id, std::vector<uintptr_t> &out) const;
    // Number of ids handed out so far, including 0.
    uint32_t size() const noexcept { return next_id_.load(std::memory_order_acquire); }
    uint32_t capacity() const noexcept { return capacity_; }
    // Held across fork() so the child never inherits the insert lock taken.
    void fork_lock() noexcept { insert_mu_.lock(); }
    void fork_unlock() noexcept { insert_mu_.unlock(); }

private:
    struct Record {
        uint32_t next; // next id in the same bucket, 0 ends the chain
        uint32_t depth;
        uint64_t hash;
        uintptr_t frames[];
    };
    static constexpr unsigned kBucketBits = 20;
    static constexpr unsigned kDirBits = 12, kPageBits = 16; // up to 2^28 stacks
    static constexpr size_t kArenaChunk = size_t{4} << 20;

    const Record *record(uint32_t id) const noexcept {
        auto *page = dir_[id >> kPageBits].load(std::memory_order_acquire);
        return page ? page[id & ((1u << kPageBits) - 1)].load(std::memory_order_acquire) : nullptr;
    }
    uint32_t find(uint32_t head, const uintptr_t *frames, uint32_t n, uint64_t hash) const noexcept;
    uint32_t insert_slow(const uintptr_t *frames, uint32_t n, uint64_t hash) noexcept;
    void *arena_alloc(size_t bytes) noexcept;

    const uint32_t capacity_;
    std::atomic<uint32_t> *buckets_;
    std::atomic<std::atomic<const Record *> *> dir_[1u << kDirBits];
    std::atomic<uint32_t> next_id_{1};
    std::mutex insert_mu_;
    char *arena_ = nullptr;
    size_t arena_left_ = 0;
};

// A thread's most recent stacks by hash: the common case (an allocation from a call site seen
// before) costs one compare of a 64-bit hash and a depth instead of a depot look-up and a compare
// of the whole stack. Two different stacks of equal depth sharing a 64-bit hash would be taken for
// one (odds about n^2 / 2^65 for n distinct stacks).
struct StackCache {
    static constexpr size_t kEntries = 256;
    struct Entry {
        uint64_t hash = 0;
        uint32_t depth = 0;
        uint32_t id = 0;
    };
    Entry entries[kEntries];

    uint32_t intern(StackDepot &depot, const uintptr_t *frames, uint32_t n, uint64_t hash) noexcept {
        Entry &e = entries[(hash >> 7) & (kEntries - 1)];
        if (__builtin_expect(e.hash == hash && e.depth == n && e.id != 0, 1)) return e.id;
        uint32_t id = depot.intern(frames, n, hash);
        if (id) e = {hash, n, id};
        return id;
    }
};

} // namespace nm::track

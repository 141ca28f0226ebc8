// stack_depot.hpp - interns call stacks: equal stacks share one 32-bit id.
//
// Lookups are lock-free (a hash table of chain heads, records never move or die); inserting a new
// stack takes a mutex. Storage comes from mmap, never from the tracked allocator or malloc, so
// interning is safe from any allocation path. Id 0 is the empty stack.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace nm::track {

class StackDepot {
public:
    static constexpr uint32_t kMaxDepth = 64;

    StackDepot();
    StackDepot(const StackDepot &) = delete;
    StackDepot &operator=(const StackDepot &) = delete;

    // The id of this stack (innermost frame first); 0 for n == 0 or if the depot is full.
    uint32_t intern(const uintptr_t *frames, uint32_t n) noexcept;
    // Copies stack `id` into out; false for an unknown id.
    bool get(uint32_t id, std::vector<uintptr_t> &out) const;
    // Number of ids handed out so far, including 0.
    uint32_t size() const noexcept { return next_id_.load(std::memory_order_acquire); }
    // Held across fork() so the child never inherits the insert lock taken.
    void fork_lock() noexcept { insert_mu_.lock(); }
    void fork_unlock() noexcept { insert_mu_.unlock(); }

private:
    struct Record {
        uint32_t next; // next id in the same bucket, 0 ends the chain
        uint32_t hash;
        uint32_t depth;
        uint32_t reserved;
        uintptr_t frames[];
    };
    static constexpr unsigned kBucketBits = 20;
    static constexpr unsigned kDirBits = 12, kPageBits = 16; // up to 2^28 stacks
    static constexpr size_t kArenaChunk = size_t{4} << 20;

    const Record *record(uint32_t id) const noexcept {
        auto *page = dir_[id >> kPageBits].load(std::memory_order_acquire);
        return page ? page[id & ((1u << kPageBits) - 1)].load(std::memory_order_acquire) : nullptr;
    }
    uint32_t insert_slow(const uintptr_t *frames, uint32_t n, uint32_t hash) noexcept;
    void *arena_alloc(size_t bytes) noexcept;

    std::atomic<uint32_t> *buckets_;
    std::atomic<std::atomic<const Record *> *> dir_[1u << kDirBits];
    std::atomic<uint32_t> next_id_{1};
    std::mutex insert_mu_;
    char *arena_ = nullptr;
    size_t arena_left_ = 0;
};

} // namespace nm::track

// stack_depot.cpp - hashing, lock-free lookup and locked insertion of call stacks.
#include "track/stack_depot.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

namespace nm::track {
namespace {

void *map_zeroed(size_t bytes) noexcept {
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

} // namespace

StackDepot::StackDepot(uint32_t capacity)
    : capacity_(capacity < 2 ? 2 : (capacity > kDefaultCapacity ? kDefaultCapacity : capacity)) {
    buckets_ = static_cast<std::atomic<uint32_t> *>(map_zeroed(sizeof(uint32_t) << kBucketBits));
    if (!buckets_) std::abort();
    for (auto &d : dir_) d.store(nullptr, std::memory_order_relaxed);
}

uint32_t StackDepot::find(uint32_t id, const uintptr_t *frames, uint32_t n, uint64_t hash) const noexcept {
    while (id) {
        const Record *r = record(id);
        if (r->hash == hash && r->depth == n && std::memcmp(r->frames, frames, n * sizeof(uintptr_t)) == 0)
            return id;
        id = r->next;
    }
    return 0;
}

uint32_t StackDepot::intern(const uintptr_t *frames, uint32_t n, uint64_t hash) noexcept {
    if (n == 0) return 0;
    if (n > kMaxDepth) n = kMaxDepth;
    const uint32_t head = buckets_[hash & ((1u << kBucketBits) - 1)].load(std::memory_order_acquire);
    if (uint32_t id = find(head, frames, n, hash)) return id;
    return insert_slow(frames, n, hash);
}

uint32_t StackDepot::insert_slow(const uintptr_t *frames, uint32_t n, uint64_t hash) noexcept {
    std::lock_guard<std::mutex> lock(insert_mu_);
    auto &head = buckets_[hash & ((1u << kBucketBits) - 1)];
    // Another thread may have inserted the same stack since our lock-free look.
    if (uint32_t id = find(head.load(std::memory_order_acquire), frames, n, hash)) return id;
    const uint32_t id = next_id_.load(std::memory_order_relaxed);
    if (id >= capacity_) return 0; // full: the block is kept, its stack is not
    auto &page_slot = dir_[id >> kPageBits];
    auto *page = page_slot.load(std::memory_order_relaxed);
    if (!page) {
        page = static_cast<std::atomic<const Record *> *>(
            map_zeroed(sizeof(std::atomic<const Record *>) << kPageBits));
        if (!page) return 0;
        page_slot.store(page, std::memory_order_release);
    }
    auto *r = static_cast<Record *>(arena_alloc(sizeof(Record) + n * sizeof(uintptr_t)));
    if (!r) return 0;
    r->next = head.load(std::memory_order_relaxed);
    r->hash = hash;
    r->depth = n;
    std::memcpy(r->frames, frames, n * sizeof(uintptr_t));
    page[id & ((1u << kPageBits) - 1)].store(r, std::memory_order_release);
    next_id_.store(id + 1, std::memory_order_release);
    head.store(id, std::memory_order_release); // publish last: readers see a complete record
    return id;
}

void *StackDepot::arena_alloc(size_t bytes) noexcept {
    bytes = (bytes + 15) & ~size_t{15};
    if (bytes > arena_left_) {
        size_t chunk = bytes > kArenaChunk ? bytes : kArenaChunk;
        arena_ = static_cast<char *>(map_zeroed(chunk));
        if (!arena_) { arena_left_ = 0; return nullptr; }
        arena_left_ = chunk;
    }
    void *p = arena_;
    arena_ += bytes;
    arena_left_ -= bytes;
    return p;
}

bool StackDepot::get(uint32_t id, std::vector<uintptr_t> &out) const {
    out.clear();
    if (id == 0) return true;
    if (id >= size()) return false;
    const Record *r = record(id);
    if (!r) return false;
    out.assign(r->frames, r->frames + r->depth);
    return true;
}

} // namespace nm::track

// open_table.hpp - the tracker's one open-addressing hash table (ChunkSet, StackTally and the
// observed heap's block table are built on it).
//
// Linear probing over a power-of-two array of entries. An entry whose key is Key{} (zero) is
// empty and an empty entry is all zero bytes, so fresh memory is an empty table and a key of zero
// cannot be stored: users store key + 1, or an address that is never 0. Before an insert would
// make the table more than half full it doubles, into memory the Memory policy hands out zeroed
// (calloc by default; mmap for a table that must not go back into the process's allocator). A
// failed grow leaves the table as it was and the insert returns null: nothing here throws or
// uses new, so it can run on the hot path and inside malloc. Deletion shifts the entries after
// the hole back (no tombstones), so a lookup never walks past dead entries. A table with no array
// yet probes one shared empty entry, so a lookup has no branch for it.
//
// Not thread-safe by itself; each user says who writes and who reads. A lookup only reads; an
// insert that does not grow writes one entry and the count; a grow moves every entry into a new
// array and frees the old one; an erase moves entries within the array.
//
// Traits provide:
//   using Entry = ...;  trivially copyable, all zero bytes when empty
//   using Key = ...;    an unsigned integer; Key{} means empty
//   static Key key(const Entry &) noexcept;
//   static void set_key(Entry &, Key) noexcept;   on an all-zero entry
//   static size_t hash(Key) noexcept;             its low bits pick the first bucket
//   static constexpr uint32_t kMinCapacity;       a power of two, the first allocation
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace nm::track {

// A key's bucket bits for Traits::hash: Fibonacci hashing, the high bits of k times 2^64 / phi
// (drop `shift` low bits of the product; the table takes the low bits of the result).
inline constexpr size_t fib_spread(uint64_t k, unsigned shift) noexcept {
    return size_t((k * 0x9E3779B97F4A7C15ull) >> shift);
}

// Zeroed memory from calloc.
struct CallocMemory {
    static void *zeroed(size_t bytes) noexcept { return std::calloc(1, bytes); }
    static void release(void *p, size_t) noexcept { std::free(p); }
};

template <class Traits, class Memory = CallocMemory> class OpenTable {
public:
    using Entry = typename Traits::Entry;
    using Key = typename Traits::Key;
    static_assert(std::is_trivially_copyable_v<Entry>, "entries are moved by copying bytes");
    static_assert((Traits::kMinCapacity & (Traits::kMinCapacity - 1)) == 0 && Traits::kMinCapacity >= 2,
                  "the capacity is a power of two");
    static constexpr uint32_t kMaxCapacity = uint32_t(1) << 31;

    OpenTable() = default;
    OpenTable(const OpenTable &) = delete;
    OpenTable &operator=(const OpenTable &) = delete;
    ~OpenTable() { clear(); }

    // The entry of k (not Key{}), or null.
    Entry *find(Key k) noexcept {
        const uint32_t mask = mask_;
        for (uint32_t i = uint32_t(Traits::hash(k)) & mask;; i = (i + 1) & mask) {
            const Key at = Traits::key(slots_[i]);
            if (at == k) return &slots_[i];
            if (at == Key{}) return nullptr;
        }
    }
    const Entry *find(Key k) const noexcept { return const_cast<OpenTable *>(this)->find(k); }
    bool contains(Key k) const noexcept { return find(k) != nullptr; }

    // The entry of k, inserted (all zero but its key) when it was not there; *inserted says which.
    // Null only when k is new and memory for a larger table cannot be had. Entry pointers stay
    // valid until the next insert of a new key or erase.
    Entry *insert(Key k, bool *inserted = nullptr) noexcept {
        if (inserted) *inserted = false;
        uint32_t i = uint32_t(Traits::hash(k)) & mask_;
        for (;; i = (i + 1) & mask_) {
            const Key at = Traits::key(slots_[i]);
            if (at == k) return &slots_[i];
            if (at == Key{}) break;
        }
        // Without an array, mask_ + 1 is 1 and this grows: the shared empty entry is never written.
        if ((size_ + 1) * 2 > mask_ + 1) {
            if (!grow()) return nullptr;
            const uint32_t mask = mask_;
            for (i = uint32_t(Traits::hash(k)) & mask; Traits::key(slots_[i]) != Key{}; i = (i + 1) & mask) {}
        }
        Traits::set_key(slots_[i], k);
        ++size_;
        if (inserted) *inserted = true;
        return &slots_[i];
    }

    // Room for n entries without another grow (a table built once at a known size). False when
    // the memory cannot be had; the table is then as it was.
    bool reserve(size_t n) noexcept {
        if (n > kMaxCapacity / 2) return false;
        const uint32_t cap = capacity();
        uint32_t ncap = cap ? cap : Traits::kMinCapacity;
        while (ncap < n * 2) ncap *= 2;
        return ncap == cap || grow_to(ncap);
    }

    // Removes an entry of this table (backward shift: the entries after it that would not be found
    // past the hole move into it).
    void erase(Entry *e) noexcept { erase_at(uint32_t(e - slots_)); }

    // Removes every entry pred(entry) is true for; the count removed.
    template <class Pred> uint32_t erase_if(Pred &&pred) noexcept {
        if (!size_) return 0;
        const uint32_t mask = mask_, cap = mask_ + 1;
        // The walk starts after an empty slot, so a backward shift only ever moves an entry into
        // the slot being looked at (looked at again) or into one still ahead.
        uint32_t start = 0;
        while (Traits::key(slots_[start]) != Key{}) start = (start + 1) & mask;
        uint32_t removed = 0;
        for (uint32_t step = 1; step <= cap; ++step) {
            const uint32_t j = (start + step) & mask;
            while (Traits::key(slots_[j]) != Key{} && pred(static_cast<const Entry &>(slots_[j]))) {
                erase_at(j);
                ++removed;
            }
        }
        return removed;
    }

    // fn(entry) for every entry, in bucket order.
    template <class Fn> void for_each(Fn &&fn) noexcept(noexcept(fn(std::declval<Entry &>()))) {
        for (uint32_t i = 0; i <= mask_; ++i)
            if (Traits::key(slots_[i]) != Key{}) fn(slots_[i]);
    }
    template <class Fn> void for_each(Fn &&fn) const noexcept(noexcept(fn(std::declval<const Entry &>()))) {
        for (uint32_t i = 0; i <= mask_; ++i)
            if (Traits::key(slots_[i]) != Key{}) fn(static_cast<const Entry &>(slots_[i]));
    }

    // Empty, with its memory given back.
    void clear() noexcept {
        if (slots_ != empty_slot()) Memory::release(slots_, size_t(mask_ + 1) * sizeof(Entry));
        slots_ = empty_slot();
        mask_ = size_ = 0;
    }

    uint32_t size() const noexcept { return size_; }
    // Entries the array has room for; 0 before the first insert.
    uint32_t capacity() const noexcept { return slots_ == empty_slot() ? 0 : mask_ + 1; }

private:
    // What a table without an array probes: one entry, empty, never written.
    static Entry *empty_slot() noexcept { return const_cast<Entry *>(&kEmpty); }
    static inline const Entry kEmpty{};

    bool grow() noexcept {
        const uint32_t cap = capacity();
        if (cap >= kMaxCapacity) return false;
        return grow_to(cap ? cap * 2 : Traits::kMinCapacity);
    }
    bool grow_to(uint32_t ncap) noexcept {
        auto *n = static_cast<Entry *>(Memory::zeroed(size_t(ncap) * sizeof(Entry)));
        if (!n) return false;
        const uint32_t mask = ncap - 1;
        for (uint32_t i = 0; i <= mask_; ++i) {
            const Key k = Traits::key(slots_[i]);
            if (k == Key{}) continue;
            uint32_t j = uint32_t(Traits::hash(k)) & mask;
            while (Traits::key(n[j]) != Key{}) j = (j + 1) & mask;
            std::memcpy(static_cast<void *>(&n[j]), &slots_[i], sizeof(Entry));
        }
        if (slots_ != empty_slot()) Memory::release(slots_, size_t(mask_ + 1) * sizeof(Entry));
        slots_ = n;
        mask_ = ncap - 1;
        return true;
    }

    void erase_at(uint32_t i) noexcept {
        const uint32_t mask = mask_;
        for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
            const Key k = Traits::key(slots_[j]);
            if (k == Key{}) break;
            const uint32_t home = uint32_t(Traits::hash(k)) & mask;
            // j moves into the hole at i when its home is not in (i, j] (cyclically).
            if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
                std::memcpy(static_cast<void *>(&slots_[i]), &slots_[j], sizeof(Entry));
                i = j;
            }
        }
        std::memset(static_cast<void *>(&slots_[i]), 0, sizeof(Entry));
        --size_;
    }

    Entry *slots_ = empty_slot();
    uint32_t mask_ = 0, size_ = 0; // mask_: capacity - 1 (0 without an array)
};

} // namespace nm::track

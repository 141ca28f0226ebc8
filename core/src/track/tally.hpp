// tally.hpp - live blocks and bytes per stack id, kept incrementally by one lane.
//
// Closing a key sums its lanes' tallies to group the reclaimed blocks by stack in O(stacks)
// instead of visiting a million blocks. An OpenTable on the stack id; only the owning thread
// writes, and readers (the closer) come after the owner's release of its busy flag.
#pragma once

#include <cstdint>

#include "track/open_table.hpp"

namespace nm::track {

class StackTally {
public:
    struct Entry {
        uint32_t key; // stack id + 1; 0 = empty
        uint32_t reserved;
        int64_t blocks;
        int64_t bytes;
    };

    void add(uint32_t stack, int64_t blocks, int64_t bytes) noexcept {
        const uint32_t k = stack + 1;
        // The common case: the same stack as the call before (an expert's allocations come from
        // few call sites). last_ is set by every add_slow, after any grow that moved the entries.
        if (__builtin_expect(last_ != nullptr && last_->key == k, 1)) {
            last_->blocks += blocks;
            last_->bytes += bytes;
            return;
        }
        add_slow(k, blocks, bytes);
    }

    template <class Fn> void for_each(Fn &&fn) const {
        table_.for_each([&](const Entry &e) { fn(e.key - 1, e.blocks, e.bytes); });
    }

private:
    __attribute__((noinline)) void add_slow(uint32_t k, int64_t blocks, int64_t bytes) noexcept {
        Entry *e = table_.insert(k);
        if (!e) return; // no memory for a larger table (last_, if any, is still valid)
        e->blocks += blocks;
        e->bytes += bytes;
        last_ = e;
    }
    struct Traits {
        using Entry = StackTally::Entry;
        using Key = uint32_t;
        static Key key(const Entry &e) noexcept { return e.key; }
        static void set_key(Entry &e, Key k) noexcept { e.key = k; }
        static size_t hash(Key k) noexcept { return fib_spread(k, 40); }
        static constexpr uint32_t kMinCapacity = 64;
    };

    OpenTable<Traits> table_;
    Entry *last_ = nullptr; // the entry the last add() touched
};

} // namespace nm::track

// tally.hpp - live blocks and bytes per stack id, kept incrementally by one lane.
//
// Closing a key sums its lanes' tallies to group the reclaimed blocks by stack in O(stacks)
// instead of visiting a million blocks. Open addressing on the stack id; only the owning thread
// writes, and readers (the closer) come after the owner's release of its busy flag.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace nm::track {

class StackTally {
public:
    struct Entry {
        uint32_t key; // stack id + 1; 0 = empty
        uint32_t reserved;
        int64_t blocks;
        int64_t bytes;
    };

    StackTally() = default;
    StackTally(const StackTally &) = delete;
    StackTally &operator=(const StackTally &) = delete;
    ~StackTally() { std::free(entries_); }

    void add(uint32_t stack, int64_t blocks, int64_t bytes) noexcept {
        const uint32_t k = stack + 1;
        // The common case: the same stack as the call before (an expert's allocations come from
        // few call sites). last_ is reset whenever the entries move.
        if (__builtin_expect(last_ != nullptr && last_->key == k, 1)) {
            last_->blocks += blocks;
            last_->bytes += bytes;
            return;
        }
        add_slow(k, blocks, bytes);
    }

    template <class Fn> void for_each(Fn &&fn) const {
        for (size_t i = 0; i < cap_; ++i)
            if (entries_[i].key) fn(entries_[i].key - 1, entries_[i].blocks, entries_[i].bytes);
    }

private:
    __attribute__((noinline)) void add_slow(uint32_t k, int64_t blocks, int64_t bytes) noexcept {
        if (size_ * 2 >= cap_ && !grow()) return;
        size_t mask = cap_ - 1;
        for (size_t i = mix(k) & mask;; i = (i + 1) & mask) {
            Entry &e = entries_[i];
            if (e.key == k) { e.blocks += blocks; e.bytes += bytes; last_ = &e; return; }
            if (e.key == 0) { e.key = k; e.blocks = blocks; e.bytes = bytes; ++size_; last_ = &e; return; }
        }
    }
    static size_t mix(uint32_t k) noexcept { return (uint64_t(k) * 0x9E3779B97F4A7C15ull) >> 40; }
    bool grow() noexcept {
        size_t ncap = cap_ ? cap_ * 2 : 64;
        auto *n = static_cast<Entry *>(std::calloc(ncap, sizeof(Entry)));
        if (!n) return false;
        for (size_t i = 0; i < cap_; ++i) {
            const Entry &e = entries_[i];
            if (!e.key) continue;
            for (size_t j = mix(e.key) & (ncap - 1);; j = (j + 1) & (ncap - 1))
                if (!n[j].key) { n[j] = e; break; }
        }
        std::free(entries_);
        entries_ = n;
        cap_ = ncap;
        last_ = nullptr;
        return true;
    }

    Entry *entries_ = nullptr;
    Entry *last_ = nullptr; // the entry the last add() touched
    size_t cap_ = 0, size_ = 0;
};

} // namespace nm::track

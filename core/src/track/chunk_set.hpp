// chunk_set.hpp - the set of 64 KiB chunks a lane's blocks start in (an OpenTable, no deletes).
//
// A close from another thread, or a snapshot, scans only these chunks of the live map to find a
// lane's blocks. The owner thread inserts (under the lane's chunk_mu) and looks up without the
// lock: it is the only writer. Readers copy it under the lock.
#pragma once

#include <cstdint>
#include <vector>

#include "track/open_table.hpp"

namespace nm::track {

class ChunkSet {
public:
    bool contains(uint64_t c) const noexcept { return table_.contains(c + 1); }
    // False only when memory for a larger table cannot be had.
    bool insert(uint64_t c) noexcept { return table_.insert(c + 1) != nullptr; }
    void append_to(std::vector<uint64_t> &out) const {
        table_.for_each([&](uint64_t slot) { out.push_back(slot - 1); });
    }
    void clear() noexcept { table_.clear(); }
    size_t size() const noexcept { return table_.size(); }

private:
    struct Traits {
        using Entry = uint64_t; // chunk + 1; 0 = empty
        using Key = uint64_t;
        static Key key(Entry e) noexcept { return e; }
        static void set_key(Entry &e, Key k) noexcept { e = k; }
        static size_t hash(Key k) noexcept { return fib_spread(k - 1, 32); }
        static constexpr uint32_t kMinCapacity = 16;
    };
    OpenTable<Traits> table_;
};

} // namespace nm::track

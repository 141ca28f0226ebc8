// history.hpp - the tracker's record of closed keys and misuse events, numbered in one sequence.
//
// Every record gets the next sequence number when it is added, so a reader that remembers the
// last number it saw copies only what is newer (Query::read's `since`). Adding is O(1) whatever
// the history holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

#include "track/query.hpp"

namespace nm::track {

class History {
public:
    static constexpr size_t kMaxClosedKept = 100000;
    static constexpr size_t kMaxMisuseKept = 10000;

    // Numbers the record and keeps it.
    void add_closed(KeyRecord &&rec);
    // Numbers and keeps the event (the first kMaxMisuseKept only; the key counts them all).
    void add_misuse(MisuseRecord &&rec);
    // Appends records with seq > since to out (oldest first) and sets out.history_seq.
    void read(Reading &out, uint64_t since) const;
    // Held across fork() so the child never inherits the lock taken.
    void fork_lock() const noexcept { mu_.lock(); }
    void fork_unlock() const noexcept { mu_.unlock(); }

private:
    mutable std::mutex mu_;
    uint64_t seq_ = 0;
    std::deque<KeyRecord> closed_;      // ascending seq
    std::deque<MisuseRecord> misuse_;   // ascending seq
    uint64_t closed_dropped_ = 0;
};

} // namespace nm::track

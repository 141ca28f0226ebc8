// history.hpp - the tracker's record of closed keys and misuse events, numbered in one sequence.
//
// Every record gets the next sequence number when it is added, so a reader that remembers the
// last number it saw copies only what is newer (Query::read's `since`). Adding is O(1) whatever
// the history holds. Memory stays bounded without losing what reports need: past kMaxClosedKept
// closed keys, the oldest clean ones (closed Done with nothing left and no misuse) are folded into
// totals; keys with leaks, a forced cleanup or misuse are always kept whole.
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
    // The closed key `id` freed the last heap block its close left behind, `frees` of them since
    // the close: its record says so from now on (nothing live, the frees counted). A reader that
    // already copied the record (seq <= its `since`) is not told again.
    void settle_left_behind(uint64_t id, uint64_t frees);
    // Numbers and keeps the event (the first kMaxMisuseKept only; the key counts them all).
    void add_misuse(MisuseRecord &&rec);
    // Appends records with seq > since to out (oldest first) and sets out.history_seq and
    // out.folded.
    void read(Reading &out, uint64_t since) const;
    // Held across fork() so the child never inherits the lock taken.
    void fork_lock() const noexcept { mu_.lock(); }
    void fork_unlock() const noexcept { mu_.unlock(); }

private:
    static bool clean(const KeyRecord &r) noexcept;

    mutable std::mutex mu_;
    uint64_t seq_ = 0;
    // The newest kMaxClosedKept closed keys; older ones that are not clean move to kept_, so
    // kept_ + recent_ is in ascending seq.
    std::deque<KeyRecord> kept_;
    std::deque<KeyRecord> recent_;
    std::deque<MisuseRecord> misuse_; // ascending seq
    FoldedKeys folded_;
};

} // namespace nm::track

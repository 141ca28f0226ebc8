// history.cpp - History: closed keys and misuse events with sequence numbers.
#include "track/history.hpp"

#include <algorithm>

namespace nm::track {

void History::add_closed(KeyRecord &&rec) {
    std::lock_guard<std::mutex> lock(mu_);
    rec.seq = ++seq_;
    if (closed_.size() >= kMaxClosedKept) {
        closed_.pop_front();
        ++closed_dropped_;
    }
    closed_.push_back(std::move(rec));
}

void History::add_misuse(MisuseRecord &&rec) {
    std::lock_guard<std::mutex> lock(mu_);
    if (misuse_.size() >= kMaxMisuseKept) return;
    rec.seq = ++seq_;
    misuse_.push_back(std::move(rec));
}

void History::read(Reading &out, uint64_t since) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto c = std::upper_bound(closed_.begin(), closed_.end(), since,
                              [](uint64_t s, const KeyRecord &r) { return s < r.seq; });
    out.closed.insert(out.closed.end(), c, closed_.end());
    auto m = std::upper_bound(misuse_.begin(), misuse_.end(), since,
                              [](uint64_t s, const MisuseRecord &r) { return s < r.seq; });
    out.misuse.insert(out.misuse.end(), m, misuse_.end());
    out.history_seq = seq_;
}

} // namespace nm::track

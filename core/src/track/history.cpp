// history.cpp - History: closed keys and misuse events with sequence numbers.
#include "track/history.hpp"

#include <algorithm>

namespace nm::track {

bool History::clean(const KeyRecord &r) noexcept {
    return r.close.outcome == 0 && r.close.blocks == 0 && r.misuse_count == 0 && r.crash_signal == 0;
}

void History::add_closed(KeyRecord &&rec) {
    std::lock_guard<std::mutex> lock(mu_);
    rec.seq = ++seq_;
    recent_.push_back(std::move(rec));
    if (recent_.size() <= kMaxClosedKept) return;
    KeyRecord &old = recent_.front();
    if (clean(old)) {
        ++folded_.keys;
        folded_.allocs += old.allocs;
        folded_.reallocs += old.reallocs;
        folded_.frees += old.frees;
        folded_.peak_bytes = std::max(folded_.peak_bytes, old.peak_bytes);
        folded_.last_seq = old.seq;
    } else {
        kept_.push_back(std::move(old));
    }
    recent_.pop_front();
}

void History::settle_left_behind(uint64_t id, uint64_t frees) {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::deque<KeyRecord> *d : {&recent_, &kept_})
        for (auto it = d->rbegin(); it != d->rend(); ++it)
            if (it->id == id) {
                it->heap_blocks = 0;
                it->heap_bytes = 0;
                it->heap_frees += frees;
                return;
            }
}

void History::add_misuse(MisuseRecord &&rec) {
    std::lock_guard<std::mutex> lock(mu_);
    if (misuse_.size() >= kMaxMisuseKept) return;
    rec.seq = ++seq_;
    misuse_.push_back(std::move(rec));
}

void History::read(Reading &out, uint64_t since) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto newer = [](uint64_t s, const KeyRecord &r) { return s < r.seq; };
    out.closed.insert(out.closed.end(), std::upper_bound(kept_.begin(), kept_.end(), since, newer), kept_.end());
    out.closed.insert(out.closed.end(), std::upper_bound(recent_.begin(), recent_.end(), since, newer), recent_.end());
    auto m = std::upper_bound(misuse_.begin(), misuse_.end(), since,
                              [](uint64_t s, const MisuseRecord &r) { return s < r.seq; });
    out.misuse.insert(out.misuse.end(), m, misuse_.end());
    out.history_seq = seq_;
    out.folded = folded_;
}

} // namespace nm::track

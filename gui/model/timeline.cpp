// timeline.cpp - the per-key history of outstanding bytes and the cleanup markers (timeline.hpp).
#include "timeline.hpp"

#include <algorithm>

namespace nm::gui {
namespace {

} // namespace

void History::derive(const model::Expert &e, KeyHistory &h, uint64_t now_ms) {
    std::vector<Sample> pts;
    pts.push_back({e.opened_ms, 0, true});
    if (e.state == model::ExpertState::Closed) {
        uint64_t bytes = 0;
        for (const model::Cleanup &c : e.cleanups) bytes += c.bytes;
        const uint64_t closed = std::max(e.closed_ms, e.opened_ms);
        pts.push_back({closed, bytes, true});
        pts.push_back({closed, 0, true});
        h.closed = true;
    } else {
        // Cumulative bytes of the live blocks by allocation time. The blocks are summed into
        // time buckets (linear in the blocks, no sort); the curve is exact at every bucket's end.
        uint64_t t0 = e.opened_ms, t1 = std::max(e.opened_ms, now_ms);
        for (const model::Block &b : e.blocks) {
            t0 = std::min(t0, b.time_ms);
            t1 = std::max(t1, b.time_ms);
        }
        const uint64_t span = t1 - t0 + 1;
        const size_t n_buckets = size_t(std::min<uint64_t>(span, std::max<size_t>(2, max_points_ / 2)));
        std::vector<uint64_t> bucket(n_buckets, 0);
        std::vector<bool> used(n_buckets, false);
        auto index = [&](uint64_t t) { return size_t(double(t - t0) / double(span) * double(n_buckets)); };
        for (const model::Block &b : e.blocks) {
            const size_t i = std::min(n_buckets - 1, index(b.time_ms));
            bucket[i] += b.size;
            used[i] = true;
        }
        uint64_t sum = 0;
        for (size_t i = 0; i < n_buckets; ++i) {
            if (!used[i]) continue;
            sum += bucket[i];
            // The bucket's last millisecond: everything in it was allocated by then.
            const uint64_t t = t0 + uint64_t(double(i + 1) * double(span) / double(n_buckets)) - 1;
            pts.push_back({std::max(t, e.opened_ms), sum, true});
        }
        // The snapshot itself reports the key's live bytes now: an exact point.
        pts.push_back({std::max(now_ms, pts.back().t_ms), e.live_bytes, false});
    }
    h.points = std::move(pts);
}

void History::append(KeyHistory &h, Sample s) {
    if (!h.points.empty() && s.t_ms < h.points.back().t_ms) s.t_ms = h.points.back().t_ms;
    h.points.push_back(s);
    if (h.points.size() > max_points_) {
        // Thin the older half: drop every other point there, keep the recent half at full rate.
        const size_t half = h.points.size() / 2;
        std::vector<Sample> out;
        out.reserve(h.points.size());
        for (size_t i = 0; i < half; ++i)
            if (i % 2 == 0 || i + 1 == half) out.push_back(h.points[i]);
        out.insert(out.end(), h.points.begin() + long(half), h.points.end());
        h.points = std::move(out);
    }
}

void History::add(const model::Snapshot &snap) {
    const uint64_t now = snap.process.snapshot_ms;
    const bool first = snapshots_ == 0;
    ++snapshots_;
    for (const model::Expert &e : snap.experts) {
        auto [it, inserted] = keys_.try_emplace(e.id);
        KeyHistory &h = it->second;
        h.name = e.name;
        if (inserted) order_.push_back(e.id);
        if (first || inserted) {
            derive(e, h, now);
        } else if (!h.closed) {
            if (e.state == model::ExpertState::Closed) {
                // What the close reclaimed is exactly what was outstanding at that moment.
                uint64_t bytes = 0;
                for (const model::Cleanup &c : e.cleanups) bytes += c.bytes;
                append(h, {e.closed_ms, bytes, false});
                append(h, {e.closed_ms, 0, false});
                h.closed = true;
            } else {
                append(h, {now, e.live_bytes, false});
            }
        }
        for (const model::Cleanup &c : e.cleanups) {
            // A clean close (done, nothing held) reclaims nothing: no marker.
            if (c.outcome == model::Outcome::Done && c.blocks == 0 && c.bytes == 0) continue;
            if (marker_seen_.emplace(std::make_pair(e.id, c.time_ms), true).second)
                markers_.push_back({c.time_ms, e.id, c.outcome, c.blocks, c.bytes});
        }
        if (!h.points.empty()) {
            t_begin_ = std::min(t_begin_, h.points.front().t_ms);
            t_end_ = std::max(t_end_, h.points.back().t_ms);
        }
    }
    t_end_ = std::max(t_end_, now);
    if (t_begin_ == UINT64_MAX) t_begin_ = 0;
    std::stable_sort(markers_.begin(), markers_.end(), [](const Marker &a, const Marker &b) { return a.t_ms < b.t_ms; });
}

Timeline History::timeline() const {
    Timeline t;
    t.series.reserve(order_.size());
    for (uint64_t id : order_) {
        const KeyHistory &h = keys_.at(id);
        Series s;
        s.expert_id = id;
        s.name = h.name;
        s.points = h.points;
        for (const Sample &p : s.points) s.max_bytes = std::max(s.max_bytes, p.bytes);
        t.max_bytes = std::max(t.max_bytes, s.max_bytes);
        t.series.push_back(std::move(s));
    }
    t.markers = markers_;
    t.t_begin = snapshots_ ? t_begin_ : 0;
    t.t_end = std::max(t_end_, t.t_begin);
    t.samples = snapshots_;
    return t;
}

void History::clear() {
    snapshots_ = 0;
    keys_.clear();
    order_.clear();
    markers_.clear();
    marker_seen_.clear();
    t_begin_ = UINT64_MAX;
    t_end_ = 0;
}

Timeline derive_timeline(const model::Snapshot &snap) {
    History h;
    h.add(snap);
    return h.timeline();
}

uint64_t value_at(const Series &s, uint64_t t_ms) {
    auto it = std::upper_bound(s.points.begin(), s.points.end(), t_ms,
                               [](uint64_t t, const Sample &p) { return t < p.t_ms; });
    if (it == s.points.begin()) return 0;
    return std::prev(it)->bytes;
}

} // namespace nm::gui

// timeline.cpp - the per-key history of outstanding bytes and the cleanup markers (timeline.hpp).
#include "timeline.hpp"

#include <algorithm>

namespace nm::gui {
namespace {

// Keeps at most `max` points of a monotonic cumulative curve: the last point of each bucket (the
// bucket's maximum, since the curve only grows), plus the first point.
std::vector<Sample> thin_cumulative(const std::vector<Sample> &in, size_t max) {
    if (in.size() <= max || max < 2) return in;
    std::vector<Sample> out;
    out.reserve(max + 1);
    out.push_back(in.front());
    const double step = double(in.size()) / double(max - 1);
    double next = step;
    for (size_t i = 1; i < in.size(); ++i) {
        if (double(i + 1) >= next || i + 1 == in.size()) {
            out.push_back(in[i]);
            while (next <= double(i + 1)) next += step;
        }
    }
    return out;
}

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
        // Cumulative bytes of the live blocks by allocation time, one point per distinct ms.
        std::vector<std::pair<uint64_t, uint64_t>> by_time;
        by_time.reserve(e.blocks.size());
        for (const model::Block &b : e.blocks) by_time.emplace_back(b.time_ms, b.size);
        std::sort(by_time.begin(), by_time.end());
        uint64_t sum = 0;
        for (size_t i = 0; i < by_time.size(); ++i) {
            sum += by_time[i].second;
            if (i + 1 < by_time.size() && by_time[i + 1].first == by_time[i].first) continue;
            pts.push_back({std::max(by_time[i].first, e.opened_ms), sum, true});
        }
        pts = thin_cumulative(pts, max_points_ / 2);
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

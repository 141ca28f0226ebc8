// timeline.hpp - outstanding bytes per key over time, and the cleanup markers, for the timeline view.
//
// A live session appends one sample per key from every snapshot or update it receives (History).
// The first snapshot (and an offline one) has no history, so its past is derived: the cumulative
// bytes of a key's live blocks by allocation time (exact for what is still live, blind to what was
// freed), and for a closed key a straight line from its opening to the bytes its cleanup reclaimed,
// then the drop at the cleanup. Derived points are flagged so the view can draw them differently.
#pragma once

#include <nmleak/model.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nm::gui {

struct Sample {
    uint64_t t_ms = 0;   // ms since the tracker started
    uint64_t bytes = 0;  // outstanding bytes of the key at t_ms
    bool derived = false; // reconstructed (see above) rather than reported by a snapshot
};

struct Series {
    uint64_t expert_id = 0;
    std::string name;
    std::vector<Sample> points; // time order
    uint64_t max_bytes = 0;
};

struct Marker {
    uint64_t t_ms = 0;
    uint64_t expert_id = 0;
    model::Outcome outcome = model::Outcome::Done;
    uint64_t blocks = 0;
    uint64_t bytes = 0;
    bool leak() const { return outcome == model::Outcome::Done; } // a leak reclaim, else forced
};

struct Timeline {
    std::vector<Series> series; // one per key, in Snapshot::experts order
    std::vector<Marker> markers; // time order; a clean close (nothing reclaimed) has none
    uint64_t t_begin = 0, t_end = 0;
    uint64_t max_bytes = 0;
    uint64_t samples = 0; // snapshots that contributed
};

// The per-key history of one session. Not thread-safe: the reader thread owns it.
class History {
public:
    // Points kept per key; older points are thinned (every other one dropped) past this.
    explicit History(size_t max_points_per_key = 4096) : max_points_(max_points_per_key) {}

    // Adds what `snap` says. The first call derives the past from the snapshot's blocks.
    void add(const model::Snapshot &snap);
    Timeline timeline() const;
    void clear();
    uint64_t snapshots() const { return snapshots_; }

private:
    struct KeyHistory {
        std::string name;
        std::vector<Sample> points;
        bool closed = false;
    };
    void derive(const model::Expert &e, KeyHistory &h, uint64_t now_ms);
    void append(KeyHistory &h, Sample s);

    size_t max_points_;
    uint64_t snapshots_ = 0;
    std::map<uint64_t, KeyHistory> keys_; // by expert id
    std::vector<uint64_t> order_;         // ids in first-seen order
    std::vector<Marker> markers_;
    std::map<std::pair<uint64_t, uint64_t>, bool> marker_seen_; // (expert id, cleanup time)
    uint64_t t_begin_ = UINT64_MAX, t_end_ = 0;
};

// The timeline of one snapshot alone (an offline file): History{}.add(snap).timeline().
Timeline derive_timeline(const model::Snapshot &snap);

// The value of a series at time t (the last point at or before t; 0 before the first).
uint64_t value_at(const Series &s, uint64_t t_ms);

} // namespace nm::gui

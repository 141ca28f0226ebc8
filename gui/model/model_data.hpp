// model_data.hpp - the immutable state one model update publishes, and the builder that makes it (in session.cpp).
//
// The reader side (a file load or a live connection) hands each snapshot to a ModelBuilder, which
// aggregates it (groups, trees, timeline) and returns a ModelData. The UI thread only ever reads a
// published ModelData through a shared_ptr<const>: nothing in it changes after publication, so the
// views need no locks, and a frame never waits for a build.
#pragma once

#include "aggregate.hpp"
#include "call_tree.hpp"
#include "timeline.hpp"

#include <nmleak/model.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace nm::gui {

enum class SourceKind : uint8_t { None, File, Live };

struct SourceInfo {
    SourceKind kind = SourceKind::None;
    std::string path; // File: the snapshot file
    int pid = 0;      // Live: the target
    uint64_t blocks_ms = 0; // Live: tracker time of the last full snapshot (its blocks are shown)
    bool ended = false;     // Live: the process is gone; what became of its open keys is unknown
    // "snapshot /tmp/x.nmsnap", "pid 1234 analyzer --capture ..."
    std::string label() const;
};

struct ModelData {
    uint64_t generation = 0; // 1 for the first published model of a session, then +1 per update
    uint64_t serial = 0;     // unique across sessions: views key their caches on it
    // The serial of the first model with exactly these live block lists. Live updates carry
    // figures only, so successive models often share their blocks: views whose caches depend on
    // blocks alone (block lists, the outstanding treemap) keep them across such updates.
    uint64_t blocks_serial = 0;
    SourceInfo source;
    std::shared_ptr<const model::Snapshot> snap; // never null
    Aggregate agg;
    CallTrees trees;
    Timeline timeline;
    double load_ms = 0;  // reading/decoding the snapshot
    double build_ms = 0; // aggregating it
};

// An empty model (no source), so views always have something to draw.
std::shared_ptr<const ModelData> empty_model();

// Builds successive models of one session: keeps the per-key history across updates.
class ModelBuilder {
public:
    std::shared_ptr<const ModelData> build(std::shared_ptr<const model::Snapshot> snap, const SourceInfo &source,
                                           double load_ms = 0);
    // Forget the history (a new session).
    void reset();
    const History &history() const { return history_; }

private:
    History history_;
    uint64_t generation_ = 0;
    uint64_t blocks_fingerprint_ = 0, blocks_serial_ = 0;
};

// Monotonic milliseconds, for timing loads and frames.
double now_ms();

} // namespace nm::gui

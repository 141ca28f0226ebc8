// reach_capture.hpp - the reachability pass applied to a snapshot being captured.
#pragma once

#include <nmleak/model.hpp>

#include "track/reach.hpp"

namespace nm {

// False when NMLEAK_REACH=0 (or "off"): snapshots leave every block's reach Unknown.
bool reach_enabled();

// Fills Block::reach of every live block of `snap` (just collected from this process's tracker),
// Process::reach_classified and Process::reach_note. Stops the other threads for the pass.
void classify_reach(model::Snapshot &snap);

// The figures of the last pass (for tests and benchmarks). Not thread-safe.
const track::reach::Stats &last_reach_stats();

} // namespace nm

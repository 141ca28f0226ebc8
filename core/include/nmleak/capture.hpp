// capture.hpp - the C++ entry points into this process's tracker, for hosts, the agent and tests:
// symbolized snapshots, plus everything of nmleak/tracker.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "nmleak/model.hpp"
#include "nmleak/tracker.hpp"

namespace nm {

// A symbolized snapshot of every key of this process (open and closed). Thread-safe; allocations
// keep running while it is taken. With include_blocks=false the live block lists are left empty.
// With blocks, each is classified by reachability (Block::reach) unless NMLEAK_REACH=0: the other
// threads are held for the pass (about 0.3 s per million blocks), never longer.
model::Snapshot capture_snapshot(bool include_blocks = true);

// For a public entry point that may take a snapshot with blocks on its own thread (NmWriteReport,
// the exit report): one constructed first, in the entry point's own frame, makes the reachability
// pass scan this thread's stack from there up, so the slots that nmleak's own deeper frames left
// behind (every block's address passed through them) are not taken for the program's pointers.
class ReachEntry {
public:
    ReachEntry() noexcept;
    ~ReachEntry();
    ReachEntry(const ReachEntry &) = delete;
    ReachEntry &operator=(const ReachEntry &) = delete;

private:
    uintptr_t storage_[17];
};

} // namespace nm

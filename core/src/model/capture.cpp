// capture.cpp - builds a self-contained, symbolized model::Snapshot of this process's tracker.
#include <unistd.h>

#include <nmleak/sys.hpp>

#include <fstream>
#include <sstream>

#include "model/from_tracker.hpp"
#include "model/modules.hpp"
#include "model/reach_capture.hpp"
#include "model/symbolize.hpp"
#include "nmleak/capture.hpp"
#include "nmleak/heap.hpp"
#include "track/query.hpp"

namespace nm {
namespace {


} // namespace

model::Snapshot capture_snapshot(bool include_blocks) { return capture_snapshot_seq(include_blocks, nullptr); }

model::Snapshot capture_snapshot_seq(bool include_blocks, uint64_t *history_seq) {
    model::Snapshot snap;
    snap.process.pid = getpid();
    snap.process.command = sys::proc_cmdline(0);
    snap.process.executable = sys::proc_exe(0);
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) snap.process.hostname = host;
    snap.process.start_unix_ms = track::Query::start_unix_ms();
    snap.process.snapshot_ms = track::Query::now_ms();
    snap.process.stack_depth = track::Query::stack_depth();
    snap.process.heap_tracked = heap::active() || heap::observing();
    snap.process.foreign_frees = heap::foreign_frees() + heap::observed_foreign_frees();

    track::Reading reading;
    track::Query::read(reading, include_blocks);
    snap.experts = experts_from(reading);
    if (history_seq) *history_seq = reading.history_seq;
    if (include_blocks && reach_enabled()) classify_reach(snap);
    snap.modules = list_modules();

    DepotStacks stacks(snap);
    for (auto &e : snap.experts) stacks.map_expert(e);

    // Symbolize each distinct frame once. A crash stack's first frame is the faulting instruction
    // itself, not a return address, but one byte earlier still lies in the same function and line
    // in practice; the runner records it as the exact PC + 1 to keep one lookup rule.
    Symbolizer &sym = process_symbolizer();
    std::vector<uint64_t> addrs;
    addrs.reserve(snap.frames.size());
    for (const auto &f : snap.frames) addrs.push_back(f.address);
    std::vector<model::Frame> resolved = sym.resolve(addrs);
    // With blocks, the snapshot holds every frame the tracker still refers to: an unloaded module
    // that none of them lies in has nothing left to name.
    if (include_blocks) sym.release_unreferenced(addrs);
    for (size_t i = 0; i < snap.frames.size() && i < resolved.size(); ++i) {
        resolved[i].address = snap.frames[i].address;
        snap.frames[i] = std::move(resolved[i]);
    }
    return snap;
}

} // namespace nm

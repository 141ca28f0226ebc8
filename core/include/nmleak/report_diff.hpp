// report_diff.hpp - what changed between two snapshots: per expert name and per allocation stack.
//
// Like heaptrack's diff mode, it compares the memory each expert retains: leaked blocks (keys
// closed with outcome done) plus blocks still outstanding in open keys, suppressions applied.
// Experts are matched by name (all keys of one name are summed: key ids differ between runs) and
// stacks by their symbolized frames (function, file, line, module file name; module + offset for
// unsymbolized frames), never by ids or addresses, so two runs of the same build line up.
#pragma once

#include <nmleak/model.hpp>
#include <nmleak/report.hpp>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace nm::report {

enum class Change { New, Grew, Same, Shrank, Gone };
const char *to_string(Change c); // "new", "grew", "same", "shrank", "gone"

struct Retained {
    uint64_t blocks = 0;
    uint64_t bytes = 0;
};

struct StackDiff {
    std::string expert; // expert name
    Change change = Change::Same;
    Retained before, after;
    // Where the frames come from: the after snapshot when the stack exists there, else before.
    bool from_after = true;
    uint32_t stack = 0;

    int64_t delta_bytes() const { return static_cast<int64_t>(after.bytes - before.bytes); }
    int64_t delta_blocks() const { return static_cast<int64_t>(after.blocks - before.blocks); }
};

struct ExpertSide {
    uint64_t keys = 0;
    uint64_t live_blocks = 0, live_bytes = 0, peak_bytes = 0;
    uint64_t allocs = 0, reallocs = 0, frees = 0, misuse = 0;
    uint64_t cleanups = 0, cleaned_bytes = 0; // forced cleanups
    Retained leaked, outstanding;
    uint64_t retained_bytes() const { return leaked.bytes + outstanding.bytes; }
    uint64_t retained_blocks() const { return leaked.blocks + outstanding.blocks; }
};

struct ExpertDiff {
    std::string name;
    Change change = Change::Same; // New/Gone by presence, else by retained bytes
    ExpertSide before, after;
};

struct SnapshotDiff {
    const model::Snapshot *before = nullptr;
    const model::Snapshot *after = nullptr;
    std::vector<ExpertDiff> experts; // by name
    std::vector<StackDiff> stacks;   // changed stacks only: growth (largest first), then shrinkage
    uint64_t unchanged_stacks = 0;
    int64_t delta_bytes = 0; // retained bytes, after - before

    uint64_t count(Change c) const;
};

// Both snapshots (and the suppressions) must outlive the result.
SnapshotDiff diff(const model::Snapshot &before, const model::Snapshot &after,
                  const Options &options = {});

void write_diff_text(std::ostream &out, const SnapshotDiff &d);
// Schema: "diff" object of core/src/report/report.schema.json ("kind": "diff").
void write_diff_json(std::ostream &out, const SnapshotDiff &d);

} // namespace nm::report

// diff.cpp - matches two snapshots' experts by name and stacks by symbolized frames, and compares.
#include <nmleak/report_diff.hpp>

#include "report/render.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace nm::report {
namespace {

// The identity of (expert name, stack) across snapshots. '\x1f' (unit separator) cannot appear
// in a symbol or a path the tracker records, so joined parts cannot collide.
std::string stack_key(const model::Snapshot &s, const std::string &expert, uint32_t stack) {
    std::string key = expert;
    for (uint32_t id : detail::stack_at(s, stack).frames) {
        key += '\x1f';
        key += detail::frame_identity(detail::frame_at(s, id));
    }
    return key;
}

struct Side {
    Retained retained;
    uint32_t stack = 0;
    bool present = false;
};

struct Entry {
    std::string expert;
    Side before, after;
};

void collect(const LeakReport &r, bool after_side, std::unordered_map<std::string, Entry> &map) {
    const model::Snapshot &s = *r.snapshot;
    for (const LeakGroup &g : r.leaks) {
        const std::string &name = s.experts[g.expert].name;
        Entry &e = map[stack_key(s, name, g.stack)];
        e.expert = name;
        Side &side = after_side ? e.after : e.before;
        side.present = true;
        side.stack = g.stack;
        side.retained.blocks += g.blocks;
        side.retained.bytes += g.bytes;
    }
}

Change classify(bool was, bool is, uint64_t before, uint64_t after) {
    if (!was) return Change::New;
    if (!is) return Change::Gone;
    if (after > before) return Change::Grew;
    if (after < before) return Change::Shrank;
    return Change::Same;
}

void add_expert(const LeakReport &r, std::map<std::string, ExpertDiff> &map, bool after_side) {
    const model::Snapshot &s = *r.snapshot;
    for (size_t i = 0; i < s.experts.size(); ++i) {
        const model::Expert &e = s.experts[i];
        ExpertDiff &d = map[e.name];
        d.name = e.name;
        ExpertSide &side = after_side ? d.after : d.before;
        ++side.keys;
        side.live_blocks += e.live_blocks;
        side.live_bytes += e.live_bytes;
        side.peak_bytes = std::max(side.peak_bytes, e.peak_bytes);
        side.allocs += e.allocs;
        side.reallocs += e.reallocs;
        side.frees += e.frees;
        side.misuse += std::max<uint64_t>(e.misuse_count, e.misuse.size());
        for (const model::Cleanup &c : e.cleanups)
            if (c.outcome != model::Outcome::Done) {
                ++side.cleanups;
                side.cleaned_bytes += c.bytes;
            }
        const ExpertTotals &t = r.experts[i];
        side.leaked.blocks += t.leaked.blocks;
        side.leaked.bytes += t.leaked.bytes;
        side.outstanding.blocks += t.outstanding.blocks;
        side.outstanding.bytes += t.outstanding.bytes;
    }
}

} // namespace

const char *to_string(Change c) {
    switch (c) {
    case Change::New: return "new";
    case Change::Grew: return "grew";
    case Change::Same: return "same";
    case Change::Shrank: return "shrank";
    case Change::Gone: return "gone";
    }
    return "unknown";
}

uint64_t SnapshotDiff::count(Change c) const {
    if (c == Change::Same) return unchanged_stacks;
    return static_cast<uint64_t>(
        std::count_if(stacks.begin(), stacks.end(), [c](const StackDiff &s) { return s.change == c; }));
}

SnapshotDiff diff(const model::Snapshot &before, const model::Snapshot &after,
                  const Options &options) {
    SnapshotDiff d;
    d.before = &before;
    d.after = &after;
    const LeakReport rb = build_report(before, options);
    const LeakReport ra = build_report(after, options);

    std::unordered_map<std::string, Entry> entries;
    collect(rb, false, entries);
    collect(ra, true, entries);
    for (auto &[key, e] : entries) {
        StackDiff s;
        s.expert = e.expert;
        s.before = e.before.retained;
        s.after = e.after.retained;
        s.change = classify(e.before.present, e.after.present, s.before.bytes, s.after.bytes);
        if (s.change == Change::Same && s.before.blocks == s.after.blocks) {
            ++d.unchanged_stacks;
            continue;
        }
        if (s.change == Change::Same) // same bytes in a different number of blocks
            s.change = s.after.blocks > s.before.blocks ? Change::Grew : Change::Shrank;
        s.from_after = e.after.present;
        s.stack = s.from_after ? e.after.stack : e.before.stack;
        d.delta_bytes += s.delta_bytes();
        d.stacks.push_back(std::move(s));
    }
    // Growth first, largest first; then shrinkage, largest loss first. Ties are broken by name and
    // frames so the order never depends on hash-map iteration.
    auto rank = [](const StackDiff &s) { return s.change == Change::New || s.change == Change::Grew ? 0 : 1; };
    std::sort(d.stacks.begin(), d.stacks.end(), [&](const StackDiff &a, const StackDiff &b) {
        if (rank(a) != rank(b)) return rank(a) < rank(b);
        int64_t da = a.delta_bytes(), db = b.delta_bytes();
        if (da != db) return rank(a) == 0 ? da > db : da < db;
        if (a.delta_blocks() != b.delta_blocks()) return a.delta_blocks() > b.delta_blocks();
        if (a.expert != b.expert) return a.expert < b.expert;
        return stack_key(a.from_after ? after : before, "", a.stack) <
               stack_key(b.from_after ? after : before, "", b.stack);
    });

    std::map<std::string, ExpertDiff> experts;
    add_expert(rb, experts, false);
    add_expert(ra, experts, true);
    for (auto &[name, e] : experts) {
        e.change = classify(e.before.keys > 0, e.after.keys > 0, e.before.retained_bytes(),
                            e.after.retained_bytes());
        d.experts.push_back(std::move(e));
    }
    return d;
}

} // namespace nm::report

// aggregate.cpp - builds the per-key, per-stack and per-block groupings of a snapshot (aggregate.hpp).
#include "aggregate.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>

namespace nm::gui {

const char *to_string(Retention r) {
    switch (r) {
    case Retention::Outstanding: return "outstanding";
    case Retention::Leaked: return "leaked";
    case Retention::Reclaimed: return "reclaimed";
    }
    return "?";
}

int find_expert(const model::Snapshot &snap, uint64_t id) {
    for (size_t i = 0; i < snap.experts.size(); ++i)
        if (snap.experts[i].id == id) return int(i);
    return -1;
}

namespace {

// Frames of the same function (and module) are one location in the trees, as in heaptrack: a
// function that calls on from three lines is one node, not three siblings. Unsymbolized frames
// stay distinct (their address is all there is).
std::vector<uint32_t> build_frame_locations(const model::Snapshot &snap) {
    std::vector<uint32_t> loc(snap.frames.size());
    std::unordered_map<std::string, uint32_t> first;
    first.reserve(snap.frames.size());
    std::string key;
    for (uint32_t f = 0; f < snap.frames.size(); ++f) {
        const model::Frame &fr = snap.frames[f];
        loc[f] = f;
        if (fr.function.empty()) continue; // unsymbolized: the address is the identity
        key.clear();
        key.append(fr.function).push_back('\0');
        key.append(fr.module);
        auto [it, inserted] = first.emplace(key, f);
        if (!inserted) loc[f] = it->second;
    }
    return loc;
}

// Scratch for the counting sort of one key's blocks by stack, reused across keys: only the
// entries a key touched are reset, so many keys over many stacks cost no more than their blocks.
struct StackBuckets {
    std::vector<uint32_t> count;   // per stack id
    std::vector<uint32_t> touched; // stack ids with a non-zero count
};

// The groups of one expert, appended to agg.groups (and its blocks to agg.blocks).
void group_expert(const model::Snapshot &snap, uint32_t e, Aggregate &agg, StackBuckets &sb) {
    const model::Expert &ex = snap.experts[e];
    const uint32_t first_group = uint32_t(agg.groups.size());
    std::unordered_map<uint32_t, uint32_t> by_stack; // stack -> index into agg.groups

    auto group_for = [&](uint32_t stack) -> KeyGroup & {
        auto [it, inserted] = by_stack.emplace(stack, uint32_t(agg.groups.size()));
        if (inserted) {
            KeyGroup g;
            g.expert = e;
            g.stack = stack < snap.stacks.size() ? stack : 0;
            agg.groups.push_back(g);
        }
        return agg.groups[it->second];
    };

    // Live blocks: an open key's outstanding memory. (A closed key has none; its blocks moved into
    // its cleanup record.) A counting sort by stack (linear: a million blocks in a few ms), then
    // each stack's blocks biggest first.
    if (!ex.blocks.empty()) {
        const uint32_t n_stacks = uint32_t(snap.stacks.size());
        auto stack_of = [&](const model::Block &b) { return b.stack < n_stacks ? b.stack : 0u; };
        for (const model::Block &b : ex.blocks) {
            const uint32_t s = stack_of(b);
            if (sb.count[s]++ == 0) sb.touched.push_back(s);
        }
        std::sort(sb.touched.begin(), sb.touched.end());
        const uint32_t base = uint32_t(agg.blocks.size());
        std::vector<uint32_t> start(sb.touched.size());
        std::unordered_map<uint32_t, uint32_t> slot; // stack -> position in touched
        slot.reserve(sb.touched.size());
        uint32_t at = base;
        for (uint32_t i = 0; i < sb.touched.size(); ++i) {
            start[i] = at;
            at += sb.count[sb.touched[i]];
            slot.emplace(sb.touched[i], i);
        }
        agg.blocks.resize(at);
        std::vector<uint32_t> fill = start;
        for (uint32_t i = 0; i < ex.blocks.size(); ++i) agg.blocks[fill[slot[stack_of(ex.blocks[i])]]++] = {e, i};
        for (uint32_t i = 0; i < sb.touched.size(); ++i) {
            const uint32_t stack = sb.touched[i];
            const uint32_t b0 = start[i], b1 = start[i] + sb.count[stack];
            std::sort(agg.blocks.begin() + b0, agg.blocks.begin() + b1, [&](const BlockRef &x, const BlockRef &y) {
                const uint64_t sx = ex.blocks[x.index].size, sy = ex.blocks[y.index].size;
                return sx != sy ? sx > sy : x.index < y.index;
            });
            KeyGroup &g = group_for(stack);
            g.block_begin = b0;
            g.block_end = b1;
            g.max_size = ex.blocks[agg.blocks[b0].index].size;
            g.min_size = ex.blocks[agg.blocks[b1 - 1].index].size;
            uint64_t bytes = 0;
            for (uint32_t b = b0; b < b1; ++b) bytes += ex.blocks[agg.blocks[b].index].size;
            g.fig.add(Retention::Outstanding, b1 - b0, bytes);
            sb.count[stack] = 0;
        }
        sb.touched.clear();
    }

    for (const model::Cleanup &c : ex.cleanups) {
        const Retention r = c.outcome == model::Outcome::Done ? Retention::Leaked : Retention::Reclaimed;
        for (const model::StackGroup &sg : c.stacks) group_for(sg.stack).fig.add(r, sg.blocks, sg.bytes);
        // A cleanup record whose stacks do not add up (blocks without a recorded stack) keeps the
        // difference on the empty stack, so totals match the key's figures.
        uint64_t blocks = 0, bytes = 0;
        for (const model::StackGroup &sg : c.stacks) {
            blocks += sg.blocks;
            bytes += sg.bytes;
        }
        if (c.blocks > blocks || c.bytes > bytes)
            group_for(0).fig.add(r, c.blocks > blocks ? c.blocks - blocks : 0, c.bytes > bytes ? c.bytes - bytes : 0);
    }

    // Biggest first; the block ranges stay valid because they index agg.blocks, not the groups.
    std::sort(agg.groups.begin() + first_group, agg.groups.end(), [](const KeyGroup &a, const KeyGroup &b) {
        if (a.fig.total_bytes() != b.fig.total_bytes()) return a.fig.total_bytes() > b.fig.total_bytes();
        return a.stack < b.stack;
    });
    Figures sum;
    for (size_t g = first_group; g < agg.groups.size(); ++g) sum.add(agg.groups[g].fig);
    agg.expert_figures[e] = sum;
    agg.total.add(sum);
}

} // namespace

Aggregate build_aggregate(const model::Snapshot &snap) {
    Aggregate agg;
    agg.frame_loc = build_frame_locations(snap);
    const uint32_t n_experts = uint32_t(snap.experts.size());
    agg.expert_groups.assign(n_experts + 1, 0);
    agg.expert_figures.assign(n_experts, Figures{});

    size_t n_blocks = 0;
    for (const model::Expert &ex : snap.experts) n_blocks += ex.blocks.size();
    agg.blocks.reserve(n_blocks);

    StackBuckets sb;
    sb.count.assign(std::max<size_t>(1, snap.stacks.size()), 0);
    for (uint32_t e = 0; e < n_experts; ++e) {
        agg.expert_groups[e] = uint32_t(agg.groups.size());
        group_expert(snap, e, agg, sb);
    }
    agg.expert_groups[n_experts] = uint32_t(agg.groups.size());

    std::vector<bool> stack_seen(snap.stacks.size());
    for (const KeyGroup &g : agg.groups) {
        if (g.stack < stack_seen.size() && !stack_seen[g.stack]) {
            stack_seen[g.stack] = true;
            ++agg.stacks_used;
        }
    }

    for (uint32_t e = 0; e < n_experts; ++e) {
        const model::Expert &ex = snap.experts[e];
        for (uint32_t c = 0; c < ex.cleanups.size(); ++c) agg.cleanups.push_back({e, c, ex.cleanups[c].time_ms});
        for (uint32_t m = 0; m < ex.misuse.size(); ++m) agg.misuse.push_back({e, m, ex.misuse[m].time_ms});
        for (uint32_t v = 0; v < ex.events.size(); ++v) agg.events.push_back({e, v, ex.events[v].time_ms});
    }
    std::stable_sort(agg.cleanups.begin(), agg.cleanups.end(),
                     [](const CleanupRef &a, const CleanupRef &b) { return a.time_ms < b.time_ms; });
    std::stable_sort(agg.misuse.begin(), agg.misuse.end(),
                     [](const MisuseRef &a, const MisuseRef &b) { return a.time_ms < b.time_ms; });
    std::stable_sort(agg.events.begin(), agg.events.end(),
                     [](const EventRef &a, const EventRef &b) { return a.time_ms < b.time_ms; });
    return agg;
}

} // namespace nm::gui

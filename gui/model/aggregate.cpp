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

// Frames with the same function, file, line and module are one location in the trees: a function
// called from one line through two return addresses (inlining, two calls) is not worth two rows.
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
        key.append(fr.file).push_back('\0');
        key.append(std::to_string(fr.line)).push_back('\0');
        key.append(fr.module);
        auto [it, inserted] = first.emplace(key, f);
        if (!inserted) loc[f] = it->second;
    }
    return loc;
}

struct BlockKey {
    uint32_t stack;
    uint32_t index;
    uint64_t size;
};

// The groups of one expert, appended to agg.groups (and its blocks to agg.blocks).
void group_expert(const model::Snapshot &snap, uint32_t e, Aggregate &agg) {
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
    // its cleanup record.)
    if (!ex.blocks.empty()) {
        std::vector<BlockKey> keys(ex.blocks.size());
        for (uint32_t i = 0; i < ex.blocks.size(); ++i)
            keys[i] = {ex.blocks[i].stack, i, ex.blocks[i].size};
        std::sort(keys.begin(), keys.end(), [](const BlockKey &a, const BlockKey &b) {
            if (a.stack != b.stack) return a.stack < b.stack;
            if (a.size != b.size) return a.size > b.size;
            return a.index < b.index;
        });
        size_t i = 0;
        while (i < keys.size()) {
            const uint32_t stack = keys[i].stack;
            KeyGroup &g = group_for(stack);
            g.block_begin = uint32_t(agg.blocks.size());
            g.max_size = keys[i].size;
            size_t j = i;
            uint64_t bytes = 0;
            for (; j < keys.size() && keys[j].stack == stack; ++j) {
                bytes += keys[j].size;
                agg.blocks.push_back({e, keys[j].index});
            }
            g.min_size = keys[j - 1].size;
            g.block_end = uint32_t(agg.blocks.size());
            g.fig.add(Retention::Outstanding, j - i, bytes);
            i = j;
        }
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

    for (uint32_t e = 0; e < n_experts; ++e) {
        agg.expert_groups[e] = uint32_t(agg.groups.size());
        group_expert(snap, e, agg);
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
    }
    std::stable_sort(agg.cleanups.begin(), agg.cleanups.end(),
                     [](const CleanupRef &a, const CleanupRef &b) { return a.time_ms < b.time_ms; });
    std::stable_sort(agg.misuse.begin(), agg.misuse.end(),
                     [](const MisuseRef &a, const MisuseRef &b) { return a.time_ms < b.time_ms; });
    return agg;
}

} // namespace nm::gui

// call_tree.cpp - builds the bottom-up and top-down call trees (call_tree.hpp) as tries of stacks.
#include "call_tree.hpp"

#include <algorithm>
#include <unordered_map>

namespace nm::gui {
namespace {

// One stack of the filter with its location sequence in the tree's direction.
struct StackPath {
    uint32_t stack = 0;
    Figures fig;
    std::vector<uint32_t> locs;  // location ids, root first
    std::vector<uint32_t> frames; // the frames behind them, same order
};

std::vector<StackPath> stack_paths(const model::Snapshot &snap, const Aggregate &agg, int expert,
                                   TreeDirection dir, const std::vector<uint8_t> *keep) {
    // Sum the filter's groups per stack (the "every key" filter has one group per key and stack).
    std::unordered_map<uint32_t, uint32_t> index;
    std::vector<StackPath> out;
    const uint32_t g_begin = expert < 0 ? 0 : agg.group_begin(uint32_t(expert));
    const uint32_t g_end = expert < 0 ? uint32_t(agg.groups.size()) : agg.group_end(uint32_t(expert));
    for (uint32_t g = g_begin; g < g_end; ++g) {
        const KeyGroup &kg = agg.groups[g];
        if (keep && (kg.stack >= keep->size() || !(*keep)[kg.stack])) continue;
        auto [it, inserted] = index.emplace(kg.stack, uint32_t(out.size()));
        if (inserted) {
            out.emplace_back();
            out.back().stack = kg.stack;
        }
        out[it->second].fig.add(kg.fig);
    }
    for (StackPath &sp : out) {
        if (sp.stack < snap.stacks.size()) {
            const auto &frames = snap.stacks[sp.stack].frames;
            sp.frames.reserve(frames.size());
            for (uint32_t f : frames)
                if (f < snap.frames.size()) sp.frames.push_back(f);
        }
        if (dir == TreeDirection::TopDown) std::reverse(sp.frames.begin(), sp.frames.end());
        if (sp.frames.empty()) sp.frames.push_back(kNoFrame); // one "<no stack>" node
        sp.locs.reserve(sp.frames.size());
        for (uint32_t f : sp.frames) sp.locs.push_back(f == kNoFrame ? kNoFrame : agg.frame_loc[f]);
    }
    std::sort(out.begin(), out.end(), [](const StackPath &a, const StackPath &b) {
        if (a.locs != b.locs) return a.locs < b.locs;
        return a.stack < b.stack;
    });
    return out;
}

} // namespace

CallTree build_call_tree(const model::Snapshot &snap, const Aggregate &agg, int expert, TreeDirection dir,
                         const std::vector<uint8_t> *keep_stack) {
    CallTree tree;
    tree.direction = dir;
    std::vector<StackPath> paths = stack_paths(snap, agg, expert, dir, keep_stack);
    tree.nodes.emplace_back(); // the virtual root
    if (paths.empty()) return tree;

    // Walk the sorted stacks keeping the current root-to-leaf chain: a stack shares the chain up to
    // its common prefix with the previous one and adds new nodes below that.
    std::vector<uint32_t> chain{0};
    const std::vector<uint32_t> *prev = nullptr;
    tree.stacks.reserve(paths.size());
    for (StackPath &sp : paths) {
        size_t common = 0;
        if (prev)
            while (common < prev->size() && common < sp.locs.size() && (*prev)[common] == sp.locs[common]) ++common;
        chain.resize(common + 1);
        for (size_t d = 0; d < common; ++d) {
            TreeNode &n = tree.nodes[chain[d + 1]];
            if (n.frame != sp.frames[d] && !n.mixed_lines) {
                const model::Frame &a = snap.frames[n.frame], &b = snap.frames[sp.frames[d]];
                n.mixed_lines = a.line != b.line || a.file != b.file;
            }
        }
        const uint32_t stack_pos = uint32_t(tree.stacks.size());
        for (size_t d = common; d < sp.locs.size(); ++d) {
            TreeNode n;
            n.frame = sp.frames[d];
            n.loc = sp.locs[d];
            n.parent = chain.back();
            n.depth = uint32_t(d + 1);
            n.stack_begin = stack_pos;
            chain.push_back(uint32_t(tree.nodes.size()));
            tree.nodes.push_back(n);
        }
        for (uint32_t node : chain) {
            tree.nodes[node].fig.add(sp.fig);
            tree.nodes[node].stack_end = stack_pos + 1;
        }
        tree.nodes[chain.back()].self.add(sp.fig);
        tree.stacks.push_back({sp.stack, sp.fig});
        prev = &sp.locs;
    }

    // Children lists: nodes were created parent first, so one pass counts and a second fills.
    std::vector<uint32_t> count(tree.nodes.size(), 0);
    for (size_t i = 1; i < tree.nodes.size(); ++i) ++count[tree.nodes[i].parent];
    uint32_t at = 0;
    for (size_t i = 0; i < tree.nodes.size(); ++i) {
        tree.nodes[i].child_begin = at;
        at += count[i];
        count[i] = 0;
    }
    tree.children.resize(at);
    for (uint32_t i = 1; i < tree.nodes.size(); ++i) {
        TreeNode &p = tree.nodes[tree.nodes[i].parent];
        tree.children[p.child_begin + p.child_count++] = i;
    }
    for (const TreeNode &n : tree.nodes) {
        auto first = tree.children.begin() + n.child_begin;
        std::sort(first, first + n.child_count, [&](uint32_t a, uint32_t b) {
            const uint64_t ba = tree.nodes[a].fig.total_bytes(), bb = tree.nodes[b].fig.total_bytes();
            return ba != bb ? ba > bb : a < b;
        });
    }
    return tree;
}

CallTrees build_call_trees(const model::Snapshot &snap, const Aggregate &agg) {
    CallTrees trees;
    const int n = int(snap.experts.size());
    trees.bottom_up.reserve(size_t(n + 1));
    trees.top_down.reserve(size_t(n + 1));
    for (int e = -1; e < n; ++e) {
        trees.bottom_up.push_back(build_call_tree(snap, agg, e, TreeDirection::BottomUp));
        trees.top_down.push_back(build_call_tree(snap, agg, e, TreeDirection::TopDown));
    }
    return trees;
}

std::vector<uint32_t> node_path(const CallTree &tree, uint32_t node) {
    std::vector<uint32_t> path;
    while (node != kNoNode && node != 0 && node < tree.nodes.size()) {
        path.push_back(tree.nodes[node].loc);
        node = tree.nodes[node].parent;
    }
    std::reverse(path.begin(), path.end());
    return path;
}

uint32_t find_node(const CallTree &tree, const std::vector<uint32_t> &path) {
    if (tree.nodes.empty()) return kNoNode;
    uint32_t node = 0;
    for (uint32_t loc : path) {
        const TreeNode &n = tree.nodes[node];
        uint32_t next = kNoNode;
        for (uint32_t i = 0; i < n.child_count; ++i) {
            const uint32_t c = tree.child(n, i);
            if (tree.nodes[c].loc == loc) {
                next = c;
                break;
            }
        }
        if (next == kNoNode) return kNoNode;
        node = next;
    }
    return node;
}

std::vector<BlockRef> collect_blocks(const model::Snapshot &snap, const Aggregate &agg, int expert,
                                     const std::vector<uint32_t> &stacks) {
    std::vector<bool> wanted(snap.stacks.size(), false);
    for (uint32_t s : stacks)
        if (s < wanted.size()) wanted[s] = true;
    const uint32_t g_begin = expert < 0 ? 0 : agg.group_begin(uint32_t(expert));
    const uint32_t g_end = expert < 0 ? uint32_t(agg.groups.size()) : agg.group_end(uint32_t(expert));
    size_t n = 0;
    for (uint32_t g = g_begin; g < g_end; ++g)
        if (wanted[agg.groups[g].stack]) n += agg.groups[g].block_end - agg.groups[g].block_begin;
    std::vector<BlockRef> out;
    out.reserve(n);
    for (uint32_t g = g_begin; g < g_end; ++g) {
        const KeyGroup &kg = agg.groups[g];
        if (wanted[kg.stack]) out.insert(out.end(), agg.blocks.begin() + kg.block_begin, agg.blocks.begin() + kg.block_end);
    }
    return out;
}

} // namespace nm::gui

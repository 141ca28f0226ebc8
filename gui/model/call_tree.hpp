// call_tree.hpp - bottom-up and top-down call trees of retained memory, built once per model update.
//
// Bottom-up: the roots are allocation sites (innermost frames) and children are their callers.
// Top-down: the roots are the outermost frames (thread entry points) and the leaves allocate.
// Frames of one function are one node (Aggregate::frame_loc), whatever line they call from. The stacks under a
// node are contiguous in CallTree::stacks (they are sorted along the tree's direction), so a node
// names its stacks by a range and selecting it costs nothing.
#pragma once

#include "aggregate.hpp"

#include <nmleak/model.hpp>

#include <cstdint>
#include <vector>

namespace nm::gui {

enum class TreeDirection : uint8_t { BottomUp, TopDown };

inline constexpr uint32_t kNoFrame = 0xFFFFFFFFu; // a stack that was not captured (sizes-only)
inline constexpr uint32_t kNoNode = 0xFFFFFFFFu;

struct TreeNode {
    uint32_t frame = kNoFrame; // a representative frame: index into Snapshot::frames
    uint32_t loc = kNoFrame;   // Aggregate::frame_loc of that frame: the node's identity among siblings
    uint32_t parent = kNoNode;
    uint32_t depth = 0;                      // 0 for the virtual root
    bool mixed_lines = false;                // merges frames from more than one source line
    uint32_t child_begin = 0, child_count = 0; // into CallTree::children, biggest total bytes first
    uint32_t stack_begin = 0, stack_end = 0;   // into CallTree::stacks
    Figures fig;    // every stack through this node
    Figures self;   // stacks that end at this node
};

struct TreeStack {
    uint32_t stack = 0;
    Figures fig;
};

struct CallTree {
    TreeDirection direction = TreeDirection::BottomUp;
    std::vector<TreeNode> nodes; // nodes[0] is the virtual root (every stack); empty for no data
    std::vector<uint32_t> children;
    std::vector<TreeStack> stacks;

    bool empty() const { return nodes.size() <= 1; }
    const TreeNode &root() const { return nodes[0]; }
    uint32_t child(const TreeNode &n, uint32_t i) const { return children[n.child_begin + i]; }
};

// expert: index into Snapshot::experts, or -1 for every key. keep_stack (indexed by stack id), when
// given, leaves out the stacks it marks 0: a tree of only the stacks a search matched.
CallTree build_call_tree(const model::Snapshot &snap, const Aggregate &agg, int expert, TreeDirection dir,
                         const std::vector<uint8_t> *keep_stack = nullptr);

// A node as a path of locations from the root, so a selection survives a rebuild of the tree.
std::vector<uint32_t> node_path(const CallTree &tree, uint32_t node);
// The node at the end of `path`, or kNoNode when the new tree no longer has it.
uint32_t find_node(const CallTree &tree, const std::vector<uint32_t> &path);

// The trees of one model: index 0 for every key, 1 + e for expert e.
struct CallTrees {
    std::vector<CallTree> bottom_up;
    std::vector<CallTree> top_down;

    const CallTree &get(TreeDirection dir, int expert) const {
        const auto &v = dir == TreeDirection::BottomUp ? bottom_up : top_down;
        return v[size_t(expert + 1)];
    }
};

CallTrees build_call_trees(const model::Snapshot &snap, const Aggregate &agg);

// The outstanding blocks allocated from any of `stacks` (stack ids), for the filter `expert`
// (-1: every key), in Aggregate::blocks order (by key, stack, then biggest first).
std::vector<BlockRef> collect_blocks(const model::Snapshot &snap, const Aggregate &agg, int expert,
                                     const std::vector<uint32_t> &stacks);

} // namespace nm::gui

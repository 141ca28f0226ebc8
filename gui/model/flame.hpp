// flame.hpp - flame graph (icicle) layout of retained memory by call stack (pure geometry, no ImGui).
//
// The graph is the top-down call tree (call_tree.hpp): row 0 is the thread entry points, each row
// below the callees of the one above, and a frame's width is the bytes of the chosen measure
// allocated through it. Zooming into a frame makes it full width; its callers stay above it as
// full-width rows (the path back out). Positions are fractions of the width, so the layout does
// not depend on the window; frames narrower than a given fraction are left out (and counted).
#pragma once

#include "aggregate.hpp"
#include "call_tree.hpp"
#include "search.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace nm::gui {

enum class FlameMeasure : uint8_t {
    Outstanding = 0, // live blocks of open keys
    Leaked = 1,      // held at a close with outcome done
    Reclaimed = 2,   // freed by forced cleanups
    Retained = 3,    // outstanding + leaked
    All = 4,         // all three
};
inline constexpr int kFlameMeasures = 5;
const char *to_string(FlameMeasure m);
// "outstanding", "leaked", "reclaimed", "retained", "all"; -1 for anything else.
int parse_flame_measure(const std::string &name);
uint64_t flame_bytes(const Figures &f, FlameMeasure m);
uint64_t flame_blocks(const Figures &f, FlameMeasure m);
// Outstanding when anything is outstanding, else leaked, else reclaimed, else all.
FlameMeasure default_flame_measure(const Figures &total);

struct FlameRect {
    uint32_t node = 0;  // into CallTree::nodes
    uint32_t depth = 0; // row: 0 for the outermost frames
    double x0 = 0, x1 = 0; // fractions of the width, 0 <= x0 < x1 <= 1
    uint64_t bytes = 0;    // of the measure, through this frame
    bool matched = false;  // the search matches this frame
    bool caller = false;   // a caller of the zoomed frame (drawn full width above it)
};

struct FlameLayout {
    std::vector<FlameRect> rects; // by depth, then left to right
    uint32_t zoom = 0;     // the node shown full width (0: the root, nothing zoomed)
    uint32_t rows = 0;     // depth of the deepest row + 1
    uint64_t total = 0;    // bytes of the measure through the zoomed node (the whole width)
    uint64_t all = 0;      // bytes of the measure in the whole tree
    uint64_t matched = 0;  // of `total`: bytes of stacks with a matching frame, each stack once
    uint32_t matched_frames = 0; // drawn frames that match
    uint32_t hidden = 0;   // frames left out as too narrow
    FlameMeasure measure = FlameMeasure::Outstanding;
};

// Lays out `tree` (a top-down tree) under `zoom` (a node id, 0 for everything). `search` may be
// null. Frames narrower than `min_fraction` of the width are left out.
FlameLayout layout_flame(const CallTree &tree, FlameMeasure measure, uint32_t zoom, const SearchIndex *search,
                         double min_fraction);

// The rect at width fraction `x` in `row`, or -1.
int flame_hit(const FlameLayout &layout, double x, uint32_t row);

} // namespace nm::gui

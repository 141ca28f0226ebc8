// treemap.hpp - squarified treemap layout of memory by key, then by stack (pure geometry, no ImGui).
#pragma once

#include "aggregate.hpp"

#include <nmleak/model.hpp>

#include <cstdint>
#include <vector>

namespace nm::gui {

struct Rect {
    float x = 0, y = 0, w = 0, h = 0;
    bool contains(float px, float py) const { return px >= x && px < x + w && py >= y && py < y + h; }
};

// Squarified layout (Bruls, Huizing, van Wijk): `values` must be sorted biggest first; returns one
// rectangle per value, in the same order, tiling `area` with aspect ratios kept near 1.
// Values of 0 get empty rectangles.
std::vector<Rect> squarify(const std::vector<double> &values, Rect area);

// What the treemap measures.
enum class TreemapMeasure : uint8_t {
    Outstanding, // live blocks of open keys
    Retained,    // outstanding + leaked
    All,         // outstanding + leaked + reclaimed by forced cleanups
};
uint64_t measure_bytes(const Figures &f, TreemapMeasure m);
uint64_t measure_blocks(const Figures &f, TreemapMeasure m);

struct TreemapCell {
    bool is_key = false;  // a key's frame (its stacks are drawn inside) or one stack of a key
    uint32_t expert = 0;  // index into Snapshot::experts
    uint32_t stack = 0;   // for stack cells
    uint32_t group = 0;   // for stack cells: index into Aggregate::groups
    uint64_t bytes = 0;
    uint64_t blocks = 0;
    Rect r;
};

struct TreemapLayout {
    std::vector<TreemapCell> cells; // key cells first, then stack cells
    uint64_t total_bytes = 0;
    TreemapMeasure measure = TreemapMeasure::Outstanding;
};

// Lays out keys (expert -1: every key; else only that one) and their stacks. `header` is the
// height reserved at the top of each key cell for its label; `pad` the gap around stack cells.
TreemapLayout layout_treemap(const model::Snapshot &snap, const Aggregate &agg, int expert,
                             TreemapMeasure measure, Rect area, float header, float pad);

// The measure to start with: outstanding when anything is outstanding, else retained, else all.
TreemapMeasure default_measure(const Aggregate &agg);

} // namespace nm::gui

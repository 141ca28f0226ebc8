// flame.cpp - the flame graph layout (flame.hpp).
#include "flame.hpp"

#include <algorithm>

namespace nm::gui {

const char *to_string(FlameMeasure m) {
    switch (m) {
    case FlameMeasure::Outstanding: return "outstanding";
    case FlameMeasure::Leaked: return "leaked";
    case FlameMeasure::Reclaimed: return "reclaimed";
    case FlameMeasure::Retained: return "retained";
    case FlameMeasure::All: return "all";
    }
    return "?";
}

int parse_flame_measure(const std::string &name) {
    for (int i = 0; i < kFlameMeasures; ++i)
        if (name == to_string(FlameMeasure(i))) return i;
    return -1;
}

uint64_t flame_bytes(const Figures &f, FlameMeasure m) {
    switch (m) {
    case FlameMeasure::Outstanding: return f.bytes_of(Retention::Outstanding);
    case FlameMeasure::Leaked: return f.bytes_of(Retention::Leaked);
    case FlameMeasure::Reclaimed: return f.bytes_of(Retention::Reclaimed);
    case FlameMeasure::Retained: return f.retained_bytes();
    case FlameMeasure::All: return f.total_bytes();
    }
    return 0;
}

uint64_t flame_blocks(const Figures &f, FlameMeasure m) {
    switch (m) {
    case FlameMeasure::Outstanding: return f.blocks_of(Retention::Outstanding);
    case FlameMeasure::Leaked: return f.blocks_of(Retention::Leaked);
    case FlameMeasure::Reclaimed: return f.blocks_of(Retention::Reclaimed);
    case FlameMeasure::Retained: return f.retained_blocks();
    case FlameMeasure::All: return f.total_blocks();
    }
    return 0;
}

FlameMeasure default_flame_measure(const Figures &total) {
    if (total.bytes_of(Retention::Outstanding)) return FlameMeasure::Outstanding;
    if (total.bytes_of(Retention::Leaked)) return FlameMeasure::Leaked;
    if (total.bytes_of(Retention::Reclaimed)) return FlameMeasure::Reclaimed;
    return FlameMeasure::All;
}

namespace {

bool node_matches(const CallTree &tree, uint32_t node, const SearchIndex *search) {
    if (!search || !search->active() || node == 0) return false;
    const uint32_t f = tree.nodes[node].frame;
    return f != kNoFrame && f < search->frames.size() && search->frames[f];
}

// Bytes under `node` of stacks with a matching frame at or below it: the topmost matching frame
// of each path counts its whole subtree, so a stack is counted once however often it matches.
uint64_t matched_below(const CallTree &tree, uint32_t node, FlameMeasure m, const SearchIndex *search) {
    uint64_t sum = 0;
    std::vector<uint32_t> todo{node};
    while (!todo.empty()) {
        const uint32_t n = todo.back();
        todo.pop_back();
        const TreeNode &tn = tree.nodes[n];
        if (node_matches(tree, n, search)) {
            sum += flame_bytes(tn.fig, m);
            continue;
        }
        for (uint32_t i = 0; i < tn.child_count; ++i) todo.push_back(tree.child(tn, i));
    }
    return sum;
}

} // namespace

FlameLayout layout_flame(const CallTree &tree, FlameMeasure measure, uint32_t zoom, const SearchIndex *search,
                         double min_fraction) {
    FlameLayout lay;
    lay.measure = measure;
    if (tree.empty()) return lay;
    if (zoom >= tree.nodes.size()) zoom = 0;
    lay.all = flame_bytes(tree.root().fig, measure);
    // A zoomed frame with nothing of this measure shows the whole graph instead.
    if (zoom != 0 && flame_bytes(tree.nodes[zoom].fig, measure) == 0) zoom = 0;
    lay.zoom = zoom;
    lay.total = flame_bytes(tree.nodes[zoom].fig, measure);
    if (lay.total == 0) return lay;

    // Callers of the zoomed frame, outermost first, each full width.
    std::vector<uint32_t> callers;
    for (uint32_t n = zoom; n != 0 && n != kNoNode; n = tree.nodes[n].parent) callers.push_back(n);
    std::reverse(callers.begin(), callers.end());
    bool caller_matched = false;
    for (size_t i = 0; i < callers.size(); ++i) {
        FlameRect r;
        r.node = callers[i];
        r.depth = uint32_t(i);
        r.x0 = 0;
        r.x1 = 1;
        r.bytes = lay.total;
        r.matched = node_matches(tree, callers[i], search);
        r.caller = i + 1 < callers.size();
        caller_matched = caller_matched || r.matched;
        lay.matched_frames += r.matched;
        lay.rects.push_back(r);
    }
    lay.matched = !search || !search->active() ? 0
                  : caller_matched             ? lay.total
                                               : matched_below(tree, zoom, measure, search);

    // Breadth-first below the zoomed frame: one row at a time, children biggest first.
    struct Item {
        uint32_t node;
        double x0, x1;
    };
    std::vector<Item> row{{zoom, 0.0, 1.0}}, next;
    uint32_t depth = uint32_t(callers.size()); // the row of zoom's children
    const double scale = 1.0 / double(lay.total);
    std::vector<uint32_t> kids;
    while (!row.empty()) {
        next.clear();
        for (const Item &it : row) {
            const TreeNode &p = tree.nodes[it.node];
            kids.clear();
            for (uint32_t i = 0; i < p.child_count; ++i) {
                const uint32_t c = tree.child(p, i);
                if (flame_bytes(tree.nodes[c].fig, measure) > 0) kids.push_back(c);
            }
            std::stable_sort(kids.begin(), kids.end(), [&](uint32_t a, uint32_t b) {
                return flame_bytes(tree.nodes[a].fig, measure) > flame_bytes(tree.nodes[b].fig, measure);
            });
            double x = it.x0;
            for (uint32_t c : kids) {
                const uint64_t b = flame_bytes(tree.nodes[c].fig, measure);
                const double w = double(b) * scale;
                if (w < min_fraction) {
                    ++lay.hidden; // its callees are narrower still
                    x += w;
                    continue;
                }
                FlameRect r;
                r.node = c;
                r.depth = depth;
                r.x0 = x;
                r.x1 = std::min(1.0, x + w);
                r.bytes = b;
                r.matched = node_matches(tree, c, search);
                lay.matched_frames += r.matched;
                lay.rects.push_back(r);
                next.push_back({c, r.x0, r.x1});
                x += w;
            }
        }
        row.swap(next);
        ++depth;
    }
    for (const FlameRect &r : lay.rects) lay.rows = std::max(lay.rows, r.depth + 1);
    return lay;
}

int flame_hit(const FlameLayout &layout, double x, uint32_t row) {
    // Rects are ordered by depth, then x: binary search the row, then the position.
    const auto &v = layout.rects;
    auto lo = std::lower_bound(v.begin(), v.end(), row, [](const FlameRect &r, uint32_t d) { return r.depth < d; });
    auto hi = std::upper_bound(lo, v.end(), row, [](uint32_t d, const FlameRect &r) { return d < r.depth; });
    auto it = std::upper_bound(lo, hi, x, [](double px, const FlameRect &r) { return px < r.x0; });
    if (it == lo) return -1;
    --it;
    return x < it->x1 ? int(it - v.begin()) : -1;
}

} // namespace nm::gui

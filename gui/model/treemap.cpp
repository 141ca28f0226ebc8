// treemap.cpp - the squarified layout and the two-level key/stack treemap (treemap.hpp).
#include "treemap.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace nm::gui {
namespace {

// The worst aspect ratio of a row of `sum` total area laid along a side of length `side`.
double worst_ratio(double row_min, double row_max, double sum, double side) {
    if (sum <= 0 || side <= 0) return 1e30;
    const double s2 = side * side, sum2 = sum * sum;
    return std::max(s2 * row_max / sum2, sum2 / (s2 * row_min));
}

} // namespace

std::vector<Rect> squarify(const std::vector<double> &values, Rect area) {
    std::vector<Rect> out(values.size());
    double total = 0;
    size_t n = 0;
    for (double v : values) {
        if (v <= 0) break;
        total += v;
        ++n;
    }
    if (n == 0 || area.w <= 0 || area.h <= 0) return out;
    // Work in areas: value v covers v * scale square pixels.
    const double scale = double(area.w) * double(area.h) / total;
    double x = area.x, y = area.y, w = area.w, h = area.h;
    size_t i = 0;
    while (i < n) {
        const double side = std::min(w, h);
        // Grow the row while its worst aspect ratio improves.
        size_t j = i;
        double sum = 0, row_min = 0, row_max = 0, worst = 1e30;
        while (j < n) {
            const double a = values[j] * scale;
            const double nsum = sum + a;
            const double nmax = j == i ? a : std::max(row_max, a);
            const double nmin = j == i ? a : std::min(row_min, a);
            const double nworst = worst_ratio(nmin, nmax, nsum, side);
            if (j > i && nworst > worst) break;
            sum = nsum;
            row_min = nmin;
            row_max = nmax;
            worst = nworst;
            ++j;
        }
        // Lay the row along the shorter side.
        const double thick = sum / side;
        double at = 0;
        for (size_t k = i; k < j; ++k) {
            const double len = values[k] * scale / thick;
            if (w >= h) // row is a column on the left
                out[k] = {float(x), float(y + at), float(thick), float(len)};
            else        // row is a strip on top
                out[k] = {float(x + at), float(y), float(len), float(thick)};
            at += len;
        }
        if (w >= h) {
            x += thick;
            w -= thick;
        } else {
            y += thick;
            h -= thick;
        }
        if (w < 0) w = 0;
        if (h < 0) h = 0;
        i = j;
    }
    return out;
}

uint64_t measure_bytes(const Figures &f, TreemapMeasure m) {
    switch (m) {
    case TreemapMeasure::Outstanding: return f.bytes_of(Retention::Outstanding);
    case TreemapMeasure::Retained: return f.retained_bytes();
    case TreemapMeasure::All: return f.total_bytes();
    }
    return 0;
}

uint64_t measure_blocks(const Figures &f, TreemapMeasure m) {
    switch (m) {
    case TreemapMeasure::Outstanding: return f.blocks_of(Retention::Outstanding);
    case TreemapMeasure::Retained: return f.retained_blocks();
    case TreemapMeasure::All: return f.total_blocks();
    }
    return 0;
}

TreemapMeasure default_measure(const Aggregate &agg) {
    if (agg.total.bytes_of(Retention::Outstanding) > 0) return TreemapMeasure::Outstanding;
    if (agg.total.retained_bytes() > 0) return TreemapMeasure::Retained;
    return TreemapMeasure::All;
}

TreemapLayout layout_treemap(const model::Snapshot &snap, const Aggregate &agg, int expert,
                             TreemapMeasure measure, Rect area, float header, float pad) {
    TreemapLayout lay;
    lay.measure = measure;
    std::vector<uint32_t> keys;
    for (uint32_t e = 0; e < snap.experts.size(); ++e) {
        if (expert >= 0 && e != uint32_t(expert)) continue;
        if (measure_bytes(agg.expert_figures[e], measure) > 0) keys.push_back(e);
    }
    std::sort(keys.begin(), keys.end(), [&](uint32_t a, uint32_t b) {
        const uint64_t ba = measure_bytes(agg.expert_figures[a], measure);
        const uint64_t bb = measure_bytes(agg.expert_figures[b], measure);
        return ba != bb ? ba > bb : a < b;
    });
    std::vector<double> values;
    for (uint32_t e : keys) {
        const uint64_t b = measure_bytes(agg.expert_figures[e], measure);
        values.push_back(double(b));
        lay.total_bytes += b;
    }
    const std::vector<Rect> key_rects = squarify(values, area);
    for (size_t k = 0; k < keys.size(); ++k) {
        TreemapCell c;
        c.is_key = true;
        c.expert = keys[k];
        c.bytes = measure_bytes(agg.expert_figures[keys[k]], measure);
        c.blocks = measure_blocks(agg.expert_figures[keys[k]], measure);
        c.r = key_rects[k];
        lay.cells.push_back(c);
    }
    for (size_t k = 0; k < keys.size(); ++k) {
        const Rect kr = key_rects[k];
        // Too small for a label: the stacks fill the whole key cell.
        const float hdr = kr.h > header * 2.5f && kr.w > 40 ? header : 0;
        const Rect inner{kr.x + pad, kr.y + hdr + pad, kr.w - 2 * pad, kr.h - hdr - 2 * pad};
        if (inner.w < 1 || inner.h < 1) continue;
        std::vector<uint32_t> groups;
        for (uint32_t g = agg.group_begin(keys[k]); g < agg.group_end(keys[k]); ++g)
            if (measure_bytes(agg.groups[g].fig, measure) > 0) groups.push_back(g);
        std::sort(groups.begin(), groups.end(), [&](uint32_t a, uint32_t b) {
            const uint64_t ba = measure_bytes(agg.groups[a].fig, measure);
            const uint64_t bb = measure_bytes(agg.groups[b].fig, measure);
            return ba != bb ? ba > bb : a < b;
        });
        std::vector<double> gv;
        gv.reserve(groups.size());
        for (uint32_t g : groups) gv.push_back(double(measure_bytes(agg.groups[g].fig, measure)));
        const std::vector<Rect> rects = squarify(gv, inner);
        for (size_t i = 0; i < groups.size(); ++i) {
            if (rects[i].w <= 0 || rects[i].h <= 0) continue;
            TreemapCell c;
            c.expert = keys[k];
            c.group = groups[i];
            c.stack = agg.groups[groups[i]].stack;
            c.bytes = measure_bytes(agg.groups[groups[i]].fig, measure);
            c.blocks = measure_blocks(agg.groups[groups[i]].fig, measure);
            c.r = rects[i];
            lay.cells.push_back(c);
        }
    }
    return lay;
}

} // namespace nm::gui

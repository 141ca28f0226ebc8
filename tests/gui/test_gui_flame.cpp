// test_gui_flame.cpp - nmleak-gui's flame graph layout and frame search without a window: geometry,
// zoom, measures, per-key graphs, search flags and the matched share (each stack counted once).
#include "aggregate.hpp"
#include "call_tree.hpp"
#include "flame.hpp"
#include "search.hpp"

#include "unit/report_sample.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace nm::gui {
namespace {

using model::Snapshot;

struct Built {
    Snapshot snap;
    Aggregate agg;
    CallTrees trees;
    explicit Built(Snapshot s) : snap(std::move(s)), agg(build_aggregate(snap)), trees(build_call_trees(snap, agg)) {}
    const CallTree &top_down(int expert = -1) const { return trees.get(TreeDirection::TopDown, expert); }
};

// The bytes of `m` of every stack for the key filter, summed from the aggregate's groups: an
// independent way to the figures the flame graph must show.
uint64_t group_bytes(const Aggregate &agg, int expert, FlameMeasure m, const SearchIndex *search = nullptr) {
    const uint32_t gb = expert < 0 ? 0 : agg.group_begin(uint32_t(expert));
    const uint32_t ge = expert < 0 ? uint32_t(agg.groups.size()) : agg.group_end(uint32_t(expert));
    uint64_t sum = 0;
    for (uint32_t g = gb; g < ge; ++g)
        if (!search || search->stack(agg.groups[g].stack)) sum += flame_bytes(agg.groups[g].fig, m);
    return sum;
}

uint32_t node_named(const Snapshot &snap, const CallTree &tree, const std::string &fn, uint32_t depth) {
    for (uint32_t i = 1; i < tree.nodes.size(); ++i)
        if (tree.nodes[i].depth == depth && tree.nodes[i].frame < snap.frames.size() &&
            snap.frames[tree.nodes[i].frame].function == fn)
            return i;
    return kNoNode;
}

TEST(GuiSearch, ParsesFieldPrefixesAndIgnoresCase) {
    EXPECT_TRUE(parse_search("").empty());
    EXPECT_TRUE(parse_search("   ").empty());
    SearchQuery q = parse_search("  Parser ");
    EXPECT_EQ(q.field, SearchQuery::Field::Any);
    EXPECT_EQ(q.needle, "parser");
    q = parse_search("FN:dns_cache");
    EXPECT_EQ(q.field, SearchQuery::Field::Function);
    EXPECT_EQ(q.needle, "dns_cache");
    EXPECT_EQ(parse_search("file: headers.cpp").field, SearchQuery::Field::File);
    EXPECT_EQ(parse_search("file: headers.cpp").needle, "headers.cpp");
    EXPECT_EQ(parse_search("module:libssl").field, SearchQuery::Field::Module);
    EXPECT_EQ(parse_search("mod:libssl").field, SearchQuery::Field::Module);
    EXPECT_TRUE(parse_search("fn:").empty()); // a prefix alone searches nothing

    model::Frame f{0x1000, "http::Parser::parse(unsigned char const*)", "/src/http/parser.cpp", 42,
                   "/opt/libhttp_expert.so", 0x1000};
    EXPECT_TRUE(frame_matches(f, parse_search("PARSER::PARSE")));
    EXPECT_TRUE(frame_matches(f, parse_search("file:http/parser")));
    EXPECT_FALSE(frame_matches(f, parse_search("fn:http/parser"))); // the file, not the function
    EXPECT_TRUE(frame_matches(f, parse_search("module:HTTP_EXPERT")));
    EXPECT_FALSE(frame_matches(f, parse_search("module:parser")));
    EXPECT_FALSE(frame_matches(f, parse_search("dns")));
}

TEST(GuiSearch, MarksFramesAndTheStacksThroughThem) {
    const Snapshot s = test::sample_snapshot();
    // Every frame's flag agrees with frame_matches, and a stack matches iff one of its frames does.
    for (const char *text : {"http_run", "module:libdns", "file:headers.cpp", "start_thread", "nothing-like-this"}) {
        SCOPED_TRACE(text);
        const SearchIndex ix = build_search(s, text);
        ASSERT_TRUE(ix.active());
        ASSERT_EQ(ix.frames.size(), s.frames.size());
        ASSERT_EQ(ix.stacks.size(), s.stacks.size());
        size_t frames = 0, stacks = 0;
        for (size_t f = 0; f < s.frames.size(); ++f) {
            EXPECT_EQ(bool(ix.frames[f]), frame_matches(s.frames[f], ix.query)) << f;
            frames += ix.frames[f];
        }
        for (size_t st = 0; st < s.stacks.size(); ++st) {
            bool any = false;
            for (uint32_t f : s.stacks[st].frames) any = any || frame_matches(s.frames[f], ix.query);
            EXPECT_EQ(bool(ix.stacks[st]), any) << st;
            stacks += any;
        }
        EXPECT_EQ(ix.frames_matched, frames);
        EXPECT_EQ(ix.stacks_matched, stacks);
    }
    // Concretely: http_run is frame 1, in stacks 1, 2 and 6; the dns module has frames 4 and 5.
    const SearchIndex run = build_search(s, "http_run");
    EXPECT_EQ(run.frames_matched, 1u);
    EXPECT_TRUE(run.stack(1) && run.stack(2) && run.stack(6));
    EXPECT_FALSE(run.stack(3) || run.stack(5) || run.stack(0));
    const SearchIndex dns = build_search(s, "module:libdns");
    EXPECT_EQ(dns.frames_matched, 2u);
    EXPECT_TRUE(dns.stack(3) && dns.stack(4));
    // No query: everything passes, nothing is allocated.
    const SearchIndex none = build_search(s, "");
    EXPECT_FALSE(none.active());
    EXPECT_TRUE(none.stack(5) && none.frame(9));
    EXPECT_TRUE(none.frames.empty());
}

TEST(GuiSearch, FilteredCallTreeHoldsOnlyMatchingStacks) {
    const Built b(test::sample_snapshot());
    const SearchIndex ix = build_search(b.snap, "http_run");
    for (TreeDirection dir : {TreeDirection::BottomUp, TreeDirection::TopDown}) {
        const CallTree t = build_call_tree(b.snap, b.agg, -1, dir, &ix.stacks);
        ASSERT_FALSE(t.empty());
        for (const TreeStack &ts : t.stacks) EXPECT_TRUE(ix.stack(ts.stack)) << ts.stack;
        for (FlameMeasure m : {FlameMeasure::Outstanding, FlameMeasure::Leaked, FlameMeasure::All})
            EXPECT_EQ(flame_bytes(t.root().fig, m), group_bytes(b.agg, -1, m, &ix));
    }
    // Filtered per key: the dns key has no http_run stack.
    const int dns = find_expert(b.snap, 2);
    EXPECT_TRUE(build_call_tree(b.snap, b.agg, dns, TreeDirection::TopDown, &ix.stacks).empty());
}

// Geometry every layout keeps: rows ordered, children inside their parent, widths proportional.
void check_geometry(const CallTree &tree, const FlameLayout &lay) {
    std::map<uint32_t, const FlameRect *> by_node;
    for (const FlameRect &r : lay.rects) by_node[r.node] = &r;
    for (size_t i = 0; i < lay.rects.size(); ++i) {
        const FlameRect &r = lay.rects[i];
        EXPECT_LT(r.x0, r.x1);
        EXPECT_GE(r.x0, 0.0);
        EXPECT_LE(r.x1, 1.0 + 1e-9);
        EXPECT_LT(r.depth, lay.rows);
        if (i > 0) {
            const FlameRect &p = lay.rects[i - 1];
            EXPECT_TRUE(p.depth < r.depth || (p.depth == r.depth && p.x1 <= r.x0 + 1e-9)) << i;
        }
        // The middle of every rect hits it.
        EXPECT_EQ(flame_hit(lay, (r.x0 + r.x1) / 2, r.depth), int(i));
        if (!r.caller && r.node != lay.zoom) {
            EXPECT_NEAR(r.x1 - r.x0, double(r.bytes) / double(lay.total), 1e-9);
            if (tree.nodes[r.node].parent == 0) { // row 0 below the virtual root
                EXPECT_EQ(r.depth, 0u);
                continue;
            }
            const auto parent = by_node.find(tree.nodes[r.node].parent);
            ASSERT_NE(parent, by_node.end()) << "a drawn frame's caller is drawn";
            EXPECT_EQ(parent->second->depth + 1, r.depth);
            EXPECT_GE(r.x0, parent->second->x0 - 1e-9);
            EXPECT_LE(r.x1, parent->second->x1 + 1e-9);
        }
    }
}

TEST(GuiFlame, WholeGraphOfEveryKey) {
    const Built b(test::sample_snapshot());
    const CallTree &tree = b.top_down();
    for (int mi = 0; mi < kFlameMeasures; ++mi) {
        const FlameMeasure m = FlameMeasure(mi);
        SCOPED_TRACE(to_string(m));
        const FlameLayout lay = layout_flame(tree, m, 0, nullptr, 0);
        EXPECT_EQ(lay.total, group_bytes(b.agg, -1, m));
        EXPECT_EQ(lay.all, lay.total);
        EXPECT_EQ(lay.zoom, 0u);
        EXPECT_EQ(lay.hidden, 0u);
        EXPECT_EQ(lay.matched, 0u);
        check_geometry(tree, lay);
        // Row 0 (the outermost frames) covers the whole width: every byte has a stack node
        // ("<no stack>" for sizes-only totals).
        double row0 = 0;
        for (const FlameRect &r : lay.rects)
            if (r.depth == 0) row0 += r.x1 - r.x0;
        EXPECT_NEAR(row0, 1.0, 1e-9);
    }
    // The deepest stack of the sample has four frames.
    const FlameLayout all = layout_flame(tree, FlameMeasure::All, 0, nullptr, 0);
    size_t deepest = 0;
    for (const auto &st : b.snap.stacks) deepest = std::max(deepest, st.frames.size());
    EXPECT_EQ(all.rows, deepest);
    // Outside the rects nothing is hit.
    EXPECT_EQ(flame_hit(all, 0.5, all.rows + 3), -1);
    EXPECT_EQ(flame_hit(all, 1.5, 0), -1);
    EXPECT_EQ(default_flame_measure(b.agg.total), FlameMeasure::Outstanding);
    for (int m = 0; m < kFlameMeasures; ++m) EXPECT_EQ(parse_flame_measure(to_string(FlameMeasure(m))), m);
    EXPECT_EQ(parse_flame_measure("bytes"), -1);
}

TEST(GuiFlame, ZoomKeepsTheCallersAboveFullWidth) {
    const Built b(test::sample_snapshot());
    const CallTree &tree = b.top_down();
    // Top-down: start_thread (row 0) -> run_expert_thread (row 1) -> http_run (row 2) -> ...
    const uint32_t run = node_named(b.snap, tree, "http_run", 3);
    ASSERT_NE(run, kNoNode);
    const FlameLayout lay = layout_flame(tree, FlameMeasure::All, run, nullptr, 0);
    EXPECT_EQ(lay.zoom, run);
    EXPECT_EQ(lay.total, flame_bytes(tree.nodes[run].fig, FlameMeasure::All));
    EXPECT_EQ(lay.all, flame_bytes(tree.root().fig, FlameMeasure::All));
    EXPECT_LT(lay.total, lay.all);
    ASSERT_GE(lay.rects.size(), 4u);
    // Rows 0..2: start_thread, run_expert_thread (callers), http_run itself, all full width.
    for (uint32_t d = 0; d < 3; ++d) {
        const FlameRect &r = lay.rects[d];
        EXPECT_EQ(r.depth, d);
        EXPECT_EQ(r.x0, 0.0);
        EXPECT_EQ(r.x1, 1.0);
        EXPECT_EQ(r.caller, d < 2);
    }
    EXPECT_EQ(lay.rects[2].node, run);
    EXPECT_EQ(b.snap.frames[tree.nodes[lay.rects[0].node].frame].function, "start_thread");
    // Below it: only its callees (Parser::parse, Headers::add), filling the width.
    double below = 0;
    for (const FlameRect &r : lay.rects) {
        if (r.depth <= 2) continue;
        EXPECT_EQ(tree.nodes[r.node].parent, run);
        below += r.x1 - r.x0;
    }
    EXPECT_NEAR(below, 1.0, 1e-9);
    check_geometry(tree, lay);
    // A bad zoom id, or a frame with nothing of the measure, shows the whole graph.
    EXPECT_EQ(layout_flame(tree, FlameMeasure::All, uint32_t(tree.nodes.size() + 5), nullptr, 0).zoom, 0u);
    const uint32_t crash = node_named(b.snap, tree, "crash_site", 3);
    ASSERT_NE(crash, kNoNode);
    EXPECT_EQ(layout_flame(tree, FlameMeasure::Outstanding, crash, nullptr, 0).zoom, 0u); // reclaimed only
    EXPECT_EQ(layout_flame(tree, FlameMeasure::Reclaimed, crash, nullptr, 0).zoom, crash);
}

TEST(GuiFlame, SelectedKeyHasItsOwnGraph) {
    const Built b(test::sample_snapshot());
    for (int e = 0; e < int(b.snap.experts.size()); ++e) {
        SCOPED_TRACE(b.snap.experts[size_t(e)].name);
        const CallTree &tree = b.top_down(e);
        const FlameLayout lay = layout_flame(tree, FlameMeasure::All, 0, nullptr, 0);
        EXPECT_EQ(lay.total, group_bytes(b.agg, e, FlameMeasure::All));
        check_geometry(tree, lay);
    }
    // dns holds 288 outstanding bytes; its graph shows its two stacks only.
    const int dns = find_expert(b.snap, 2);
    const FlameLayout lay = layout_flame(b.top_down(dns), FlameMeasure::Outstanding, 0, nullptr, 0);
    EXPECT_EQ(lay.total, b.snap.experts[size_t(dns)].live_bytes);
}

TEST(GuiFlame, SearchHighlightsFramesAndCountsTheirShareOnce) {
    const Built b(test::sample_snapshot());
    const CallTree &tree = b.top_down();
    for (const char *text : {"http_run", "module:libdns", "run_expert_thread", "start_thread", "fn:parse", "zzz"}) {
        SCOPED_TRACE(text);
        const SearchIndex ix = build_search(b.snap, text);
        for (FlameMeasure m : {FlameMeasure::Outstanding, FlameMeasure::Leaked, FlameMeasure::All}) {
            const FlameLayout lay = layout_flame(tree, m, 0, &ix, 0);
            EXPECT_EQ(lay.matched, group_bytes(b.agg, -1, m, &ix));
            EXPECT_LE(lay.matched, lay.total);
            uint32_t matched = 0;
            for (const FlameRect &r : lay.rects) {
                const uint32_t f = tree.nodes[r.node].frame;
                EXPECT_EQ(r.matched, f != kNoFrame && ix.frame(f));
                matched += r.matched;
            }
            EXPECT_EQ(lay.matched_frames, matched);
        }
    }
    // Zoomed below a matching caller: everything shown matches.
    const SearchIndex st = build_search(b.snap, "start_thread");
    const uint32_t run = node_named(b.snap, tree, "http_run", 3);
    const FlameLayout z = layout_flame(tree, FlameMeasure::All, run, &st, 0);
    EXPECT_EQ(z.matched, z.total);
}

TEST(GuiFlame, RecursionIsCountedOnceAndNarrowFramesAreLeftOut) {
    Snapshot s;
    s.frames = {{0x10, "main", "m.c", 1, "/bin/a", 0x10},
                {0x20, "walk", "w.c", 5, "/bin/a", 0x20},
                {0x30, "alloc_node", "w.c", 9, "/bin/a", 0x30},
                {0x40, "tiny", "t.c", 1, "/bin/a", 0x40}};
    // walk recurses: main -> walk -> walk -> walk -> alloc_node; and one tiny stack.
    s.stacks = {{{}}, {{2, 1, 1, 1, 0}}, {{3, 0}}};
    model::Expert e;
    e.id = 1;
    e.name = "k";
    e.live_blocks = 2;
    e.live_bytes = 1000000 + 10;
    e.blocks = {{0x1000, 1000000, 1, 1}, {0x2000, 10, 2, 2}};
    s.experts.push_back(e);
    const Built b(std::move(s));
    const CallTree &tree = b.top_down();
    const SearchIndex ix = build_search(b.snap, "walk");
    const FlameLayout lay = layout_flame(tree, FlameMeasure::Outstanding, 0, &ix, 0);
    EXPECT_EQ(lay.total, 1000010u);
    EXPECT_EQ(lay.matched, 1000000u); // three matching frames on one stack: its bytes once
    EXPECT_EQ(lay.matched_frames, 3u);
    EXPECT_EQ(lay.rows, 5u);
    // 10 bytes of a million are narrower than 1/1000 of the width: left out, and counted.
    const FlameLayout pruned = layout_flame(tree, FlameMeasure::Outstanding, 0, nullptr, 1e-3);
    EXPECT_EQ(pruned.hidden, 1u);
    for (const FlameRect &r : pruned.rects) EXPECT_NE(b.snap.frames[tree.nodes[r.node].frame].function, "tiny");
    check_geometry(tree, pruned);
}

TEST(GuiFlame, EmptyTreeGivesAnEmptyLayout) {
    Snapshot s;
    s.stacks.emplace_back();
    const Built b(std::move(s));
    const FlameLayout lay = layout_flame(b.top_down(), FlameMeasure::All, 0, nullptr, 0);
    EXPECT_TRUE(lay.rects.empty());
    EXPECT_EQ(lay.total, 0u);
    EXPECT_EQ(flame_hit(lay, 0.5, 0), -1);
}

} // namespace
} // namespace nm::gui

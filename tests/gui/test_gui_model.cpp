// test_gui_model.cpp - nmleak-gui's model without a window: aggregation, call trees, timeline history,
// treemap layout, formatting, and the session's file path (open, errors, save, export, compare).
#include "aggregate.hpp"
#include "call_tree.hpp"
#include "export.hpp"
#include "format.hpp"
#include "live_link.hpp"
#include "model_data.hpp"
#include "session.hpp"
#include "timeline.hpp"
#include "treemap.hpp"

#include "unit/report_sample.hpp"

#include <gtest/gtest.h>
#include <nmleak/report.hpp>
#include <nmleak/snapshot_io.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

namespace nm::gui {
namespace {

using model::Snapshot;

const KeyGroup *group_of(const Aggregate &agg, uint32_t expert, uint32_t stack) {
    for (uint32_t g = agg.group_begin(expert); g < agg.group_end(expert); ++g)
        if (agg.groups[g].stack == stack) return &agg.groups[g];
    return nullptr;
}

TEST(GuiAggregate, PerKeyFiguresSplitByRetention) {
    const Snapshot s = test::sample_snapshot();
    const Aggregate agg = build_aggregate(s);
    ASSERT_EQ(agg.expert_figures.size(), s.experts.size());
    // http (closed done): its cleanup's 3 blocks / 4196 bytes are leaks.
    EXPECT_EQ(agg.expert_figures[0].bytes_of(Retention::Leaked), 4196u);
    EXPECT_EQ(agg.expert_figures[0].blocks_of(Retention::Leaked), 3u);
    EXPECT_EQ(agg.expert_figures[0].bytes_of(Retention::Outstanding), 0u);
    // dns (running): 4 live blocks, 288 bytes outstanding.
    EXPECT_EQ(agg.expert_figures[1].bytes_of(Retention::Outstanding), 288u);
    EXPECT_EQ(agg.expert_figures[1].blocks_of(Retention::Outstanding), 4u);
    // crashy: a forced cleanup, reclaimed not leaked.
    EXPECT_EQ(agg.expert_figures[2].bytes_of(Retention::Reclaimed), 3072u);
    EXPECT_EQ(agg.expert_figures[2].bytes_of(Retention::Leaked), 0u);
    // sizes-only: totals without stacks land on the empty stack.
    const KeyGroup *g = group_of(agg, 6, 0);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->fig.bytes_of(Retention::Leaked), 500u);
    EXPECT_EQ(g->fig.blocks_of(Retention::Leaked), 5u);

    uint64_t live = 0;
    for (const auto &e : s.experts) live += e.live_bytes;
    EXPECT_EQ(agg.total.bytes_of(Retention::Outstanding), live);
}

TEST(GuiAggregate, GroupsByStackWithBlockRanges) {
    const Snapshot s = test::sample_snapshot();
    const Aggregate agg = build_aggregate(s);
    // dns: stack 3 has three blocks (64, 64, 128), stack 4 one (32).
    const KeyGroup *g3 = group_of(agg, 1, 3);
    ASSERT_NE(g3, nullptr);
    EXPECT_EQ(g3->fig.blocks_of(Retention::Outstanding), 3u);
    EXPECT_EQ(g3->fig.bytes_of(Retention::Outstanding), 256u);
    EXPECT_EQ(g3->block_end - g3->block_begin, 3u);
    EXPECT_EQ(g3->max_size, 128u);
    EXPECT_EQ(g3->min_size, 64u);
    // Blocks of a group: biggest first, all from that stack.
    const model::Block &first = s.experts[1].blocks[agg.blocks[g3->block_begin].index];
    EXPECT_EQ(first.size, 128u);
    for (uint32_t b = g3->block_begin; b < g3->block_end; ++b)
        EXPECT_EQ(s.experts[agg.blocks[b].expert].blocks[agg.blocks[b].index].stack, 3u);
    // Groups of a key are biggest first.
    for (uint32_t e = 0; e < s.experts.size(); ++e)
        for (uint32_t i = agg.group_begin(e) + 1; i < agg.group_end(e); ++i)
            EXPECT_GE(agg.groups[i - 1].fig.total_bytes(), agg.groups[i].fig.total_bytes());
    EXPECT_EQ(agg.blocks.size(), 5u); // dns 4 + http(open) 1
}

TEST(GuiAggregate, CleanupAndMisuseLogsInTimeOrder) {
    const Snapshot s = test::sample_snapshot();
    const Aggregate agg = build_aggregate(s);
    ASSERT_EQ(agg.cleanups.size(), 6u);
    for (size_t i = 1; i < agg.cleanups.size(); ++i) EXPECT_LE(agg.cleanups[i - 1].time_ms, agg.cleanups[i].time_ms);
    const model::Cleanup &first = s.experts[agg.cleanups[0].expert].cleanups[agg.cleanups[0].cleanup];
    EXPECT_EQ(first.outcome, model::Outcome::Done);
    EXPECT_EQ(first.bytes, 4196u);
    ASSERT_EQ(first.stacks.size(), 2u);
    ASSERT_EQ(agg.misuse.size(), 2u);
    EXPECT_EQ(agg.misuse[0].time_ms, 120u);
    EXPECT_EQ(s.experts[agg.misuse[1].expert].misuse[agg.misuse[1].misuse].kind, model::MisuseKind::ForeignKey);
}

TEST(GuiCallTree, BottomUpRootsAreAllocationSites) {
    const Snapshot s = test::sample_snapshot();
    const Aggregate agg = build_aggregate(s);
    const CallTree t = build_call_tree(s, agg, -1, TreeDirection::BottomUp);
    ASSERT_FALSE(t.empty());
    EXPECT_EQ(t.root().fig.total_bytes(), agg.total.total_bytes());
    // Every root child is the innermost frame of some stack; children are biggest first.
    const TreeNode &root = t.root();
    for (uint32_t i = 0; i < root.child_count; ++i) {
        const TreeNode &n = t.nodes[t.child(root, i)];
        EXPECT_EQ(n.depth, 1u);
        if (i) {
            EXPECT_LE(n.fig.total_bytes(), t.nodes[t.child(root, i - 1)].fig.total_bytes());
        }
    }
    // A node's figures are the sum of its children's plus its own (stacks ending there).
    for (const TreeNode &n : t.nodes) {
        Figures sum = n.self;
        for (uint32_t i = 0; i < n.child_count; ++i) sum.add(t.nodes[t.child(n, i)].fig);
        EXPECT_EQ(sum.total_bytes(), n.fig.total_bytes());
        EXPECT_EQ(sum.total_blocks(), n.fig.total_blocks());
    }
    // The stacks under a node all pass through its frames.
    for (uint32_t id = 1; id < t.nodes.size(); ++id) {
        const TreeNode &n = t.nodes[id];
        ASSERT_LT(n.stack_begin, n.stack_end);
        const std::vector<uint32_t> path = node_path(t, id);
        for (uint32_t k = n.stack_begin; k < n.stack_end; ++k) {
            const auto &frames = s.stacks[t.stacks[k].stack].frames;
            if (frames.empty()) continue;
            ASSERT_GE(frames.size(), path.size());
            for (size_t d = 0; d < path.size(); ++d) EXPECT_EQ(agg.frame_loc[frames[d]], path[d]);
        }
        EXPECT_EQ(find_node(t, path), id);
    }
}

TEST(GuiCallTree, TopDownLeavesAllocateAndFilterByKey) {
    const Snapshot s = test::sample_snapshot();
    const Aggregate agg = build_aggregate(s);
    const CallTree all = build_call_tree(s, agg, -1, TreeDirection::TopDown);
    const CallTree dns = build_call_tree(s, agg, 1, TreeDirection::TopDown);
    EXPECT_EQ(dns.root().fig.total_bytes(), 288u);
    EXPECT_LT(dns.root().fig.total_bytes(), all.root().fig.total_bytes());
    // dns stack 3 is {4, 5, 2, 3}: top-down goes start_thread(3) > run_expert_thread(2) > ... > dns_cache_insert(4).
    const uint32_t n = find_node(dns, {agg.frame_loc[3], agg.frame_loc[2], agg.frame_loc[5], agg.frame_loc[4]});
    ASSERT_NE(n, kNoNode);
    EXPECT_EQ(dns.nodes[n].self.bytes_of(Retention::Outstanding), 256u);
    EXPECT_EQ(dns.nodes[n].child_count, 0u);
    // Its blocks.
    std::vector<uint32_t> stacks;
    for (uint32_t k = dns.nodes[n].stack_begin; k < dns.nodes[n].stack_end; ++k) stacks.push_back(dns.stacks[k].stack);
    EXPECT_EQ(collect_blocks(s, agg, 1, stacks).size(), 3u);
    EXPECT_EQ(collect_blocks(s, agg, -1, {1}).size(), 1u); // the open http key's block
    EXPECT_TRUE(collect_blocks(s, agg, 1, {1}).empty());
}

TEST(GuiTimeline, OfflineSnapshotDerivesHistoryAndMarkers) {
    const Snapshot s = test::sample_snapshot();
    const Timeline t = derive_timeline(s);
    ASSERT_EQ(t.series.size(), s.experts.size());
    // dns (open): cumulative bytes of its live blocks by allocation time, ending at its live bytes.
    const Series &dns = t.series[1];
    EXPECT_EQ(value_at(dns, 215), 64u);
    EXPECT_EQ(value_at(dns, 235), 256u);
    EXPECT_EQ(dns.points.back().bytes, 288u);
    EXPECT_FALSE(dns.points.back().derived);
    // crashy (closed): up to the reclaimed bytes at the close, then 0.
    const Series &crashy = t.series[2];
    EXPECT_EQ(crashy.max_bytes, 3072u);
    EXPECT_EQ(value_at(crashy, 351), 0u);
    // One marker per cleanup that reclaimed something (quiet's clean close has none), in time order.
    ASSERT_EQ(t.markers.size(), 5u);
    EXPECT_TRUE(t.markers[0].leak());
    EXPECT_EQ(t.markers[1].outcome, model::Outcome::Crashed);
    EXPECT_FALSE(t.markers[1].leak());
}

TEST(GuiTimeline, UpdatesAppendSamplesAndCloseKeys) {
    Snapshot s = test::sample_snapshot();
    ModelBuilder b;
    auto m1 = b.build(std::make_shared<Snapshot>(s), SourceInfo{});
    EXPECT_EQ(m1->generation, 1u);
    // An update: dns grew, then the open http key was closed with a forced cleanup.
    s.process.snapshot_ms = 2000;
    s.experts[1].live_bytes = 1000;
    s.experts[1].live_blocks = 5;
    s.experts[1].blocks.push_back({0x7f00aa000500, 712, 3, 1900, model::BlockOrigin::Api, model::Reach::Unknown});
    model::Expert &http = s.experts[4];
    http.state = model::ExpertState::Closed;
    http.outcome = model::Outcome::Terminated;
    http.closed_ms = 1800;
    http.cleanups.push_back({1800, model::Outcome::Terminated, 1, 2048, {{1, 1, 2048}}, 0, 0, {}, 0, 0, {}, {}});
    http.blocks.clear();
    http.live_blocks = http.live_bytes = 0;
    auto m2 = b.build(std::make_shared<Snapshot>(s), SourceInfo{});
    EXPECT_EQ(m2->generation, 2u);
    EXPECT_EQ(m2->timeline.samples, 2u);
    const Series &dns = m2->timeline.series[1];
    EXPECT_EQ(value_at(dns, 2000), 1000u);
    EXPECT_EQ(value_at(dns, 1999), 288u);
    const Series &h = m2->timeline.series[4];
    EXPECT_EQ(value_at(h, 1799), 2048u);
    EXPECT_EQ(value_at(h, 1800), 0u);
    EXPECT_EQ(m2->timeline.markers.size(), 6u);
    // Figures and trees follow the update.
    EXPECT_EQ(m2->agg.expert_figures[1].bytes_of(Retention::Outstanding), 1000u);
    EXPECT_EQ(m2->agg.expert_figures[4].bytes_of(Retention::Reclaimed), 2048u);
    EXPECT_EQ(m2->trees.get(TreeDirection::BottomUp, 1).root().fig.bytes_of(Retention::Outstanding), 1000u);
    // A third identical snapshot adds samples but no duplicate markers.
    auto m3 = b.build(std::make_shared<Snapshot>(s), SourceInfo{});
    EXPECT_EQ(m3->timeline.markers.size(), 6u);
    b.reset();
    EXPECT_EQ(b.build(std::make_shared<Snapshot>(s), SourceInfo{})->generation, 1u);
}

TEST(GuiModelBuilder, LiveUpdatesWithTheSameBlocksShareTheirBlockCaches) {
    Snapshot s = test::sample_snapshot();
    SourceInfo live;
    live.kind = SourceKind::Live;
    live.blocks_ms = 1500;
    ModelBuilder b;
    auto m1 = b.build(std::make_shared<Snapshot>(s), live);
    s.experts[1].live_bytes += 10; // an update: figures only
    auto m2 = b.build(std::make_shared<Snapshot>(s), live);
    EXPECT_NE(m1->serial, m2->serial);
    EXPECT_EQ(m1->blocks_serial, m2->blocks_serial);
    s.experts[4].blocks.clear(); // a key closed: its block list goes
    auto m3 = b.build(std::make_shared<Snapshot>(s), live);
    EXPECT_NE(m3->blocks_serial, m2->blocks_serial);
    live.blocks_ms = 2500; // a new full snapshot
    auto m4 = b.build(std::make_shared<Snapshot>(s), live);
    EXPECT_NE(m4->blocks_serial, m3->blocks_serial);
    // Files never share: each load is new.
    auto f = b.build(std::make_shared<Snapshot>(s), SourceInfo{});
    EXPECT_EQ(f->blocks_serial, f->serial);
}

TEST(GuiTreemap, SquarifyTilesTheArea) {
    const std::vector<double> v = {50, 25, 12, 6, 4, 2, 1};
    const Rect area{10, 20, 400, 300};
    const std::vector<Rect> r = squarify(v, area);
    ASSERT_EQ(r.size(), v.size());
    const double total = std::accumulate(v.begin(), v.end(), 0.0);
    for (size_t i = 0; i < r.size(); ++i) {
        EXPECT_NEAR(double(r[i].w) * r[i].h, v[i] / total * 400 * 300, 2.0);
        EXPECT_GE(r[i].x, area.x - 0.01f);
        EXPECT_GE(r[i].y, area.y - 0.01f);
        EXPECT_LE(r[i].x + r[i].w, area.x + area.w + 0.01f);
        EXPECT_LE(r[i].y + r[i].h, area.y + area.h + 0.01f);
    }
    EXPECT_TRUE(squarify({}, area).empty());
    EXPECT_EQ(squarify({0, 0}, area)[0].w, 0.0f);
}

TEST(GuiTreemap, KeysThenStacks) {
    const Snapshot s = test::sample_snapshot();
    const Aggregate agg = build_aggregate(s);
    const TreemapLayout all = layout_treemap(s, agg, -1, TreemapMeasure::All, {0, 0, 800, 600}, 18, 2);
    uint64_t keys = 0, stacks = 0;
    for (const TreemapCell &c : all.cells) (c.is_key ? keys : stacks) += c.bytes;
    EXPECT_EQ(keys, agg.total.total_bytes());
    EXPECT_EQ(stacks, keys);
    EXPECT_EQ(default_measure(agg), TreemapMeasure::Outstanding);
    const TreemapLayout one = layout_treemap(s, agg, 1, TreemapMeasure::Outstanding, {0, 0, 800, 600}, 18, 2);
    EXPECT_EQ(one.total_bytes, 288u);
}

TEST(GuiFormat, SizesCountsAndNames) {
    EXPECT_EQ(fmt::bytes(0), "0 B");
    EXPECT_EQ(fmt::bytes(1023), "1023 B");
    EXPECT_EQ(fmt::bytes(1536), "1.50 KiB");
    EXPECT_EQ(fmt::bytes(uint64_t(12) << 20), "12.0 MiB");
    EXPECT_EQ(fmt::delta_bytes(-512), "-512 B");
    EXPECT_EQ(fmt::delta_bytes(2048), "+2.00 KiB");
    EXPECT_EQ(fmt::count(1234567), "1,234,567");
    EXPECT_EQ(fmt::count(999), "999");
    EXPECT_EQ(fmt::duration_ms(850), "850 ms");
    EXPECT_EQ(fmt::duration_ms(125000), "2 m 05 s");
    EXPECT_EQ(fmt::at_ms(12345), "+12.345 s");
    EXPECT_EQ(fmt::short_function("http::Parser::parse(unsigned char const*, unsigned long)"), "http::Parser::parse(...)");
    EXPECT_EQ(fmt::short_function("f()"), "f()");
    EXPECT_EQ(fmt::short_function("nm::(anonymous namespace)::run(int) [clone .constprop.0]"),
              "nm::(anonymous namespace)::run(...)");
    model::Frame f;
    f.module = "/usr/lib/libx.so";
    f.module_offset = 0x10;
    EXPECT_EQ(fmt::frame_function(f), "libx.so+0x10");
    f.file = "/src/a/b.cpp";
    f.line = 7;
    EXPECT_EQ(fmt::frame_location(f), "b.cpp:7");
}

// The session, on snapshot files written by libnmapi itself (make_gui_snapshot).
class GuiSession : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = std::filesystem::temp_directory_path() / ("nmgui-model-" + std::to_string(getpid()));
        std::filesystem::create_directories(dir_);
        for (int phase : {1, 2}) {
            const std::string out = (dir_ / ("phase" + std::to_string(phase) + ".nmsnap")).string();
            const std::string cmd = std::string(NMGUI_MAKE_SNAPSHOT) + " " + out + " --phase " + std::to_string(phase);
            ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
        }
    }
    static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
    static std::string path(const char *name) { return (dir_ / name).string(); }
    static std::filesystem::path dir_;
};
std::filesystem::path GuiSession::dir_;

const model::Expert *by_name(const Snapshot &s, const std::string &name) {
    for (const auto &e : s.experts)
        if (e.name == name) return &e;
    return nullptr;
}

bool stack_has(const Snapshot &s, uint32_t stack, const std::string &fn) {
    for (uint32_t f : s.stacks[stack].frames)
        if (s.frames[f].function.find(fn) != std::string::npos) return true;
    return false;
}

TEST_F(GuiSession, OpensARealSnapshot) {
    Session session;
    session.open_file(path("phase1.nmsnap"));
    ASSERT_TRUE(session.wait_idle(20000));
    auto m = session.current();
    ASSERT_EQ(m->generation, 1u);
    EXPECT_EQ(m->source.kind, SourceKind::File);
    const Snapshot &s = *m->snap;
    const model::Expert *http = by_name(s, "http_parser");
    ASSERT_NE(http, nullptr);
    EXPECT_EQ(http->state, model::ExpertState::Running);
    EXPECT_EQ(http->status.percent, 40);
    EXPECT_GE(http->misuse_count, 1u);
    const int hi = find_expert(s, http->id);
    EXPECT_EQ(m->agg.expert_figures[size_t(hi)].bytes_of(Retention::Outstanding), http->live_bytes);
    // Its biggest group comes from one of the two known allocation sites.
    const KeyGroup &g = m->agg.groups[m->agg.group_begin(uint32_t(hi))];
    EXPECT_TRUE(stack_has(s, g.stack, "http_read_body") || stack_has(s, g.stack, "http_parse_headers"));
    // The bottom-up tree's roots are the allocation sites (below the API frame, if captured).
    const CallTree &bu = m->trees.get(TreeDirection::BottomUp, hi);
    ASSERT_FALSE(bu.empty());
    bool found = false;
    for (uint32_t n = 1; n < bu.nodes.size(); ++n)
        if (bu.nodes[n].depth <= 2 && s.frames[bu.nodes[n].frame].function.find("http_") != std::string::npos) found = true;
    EXPECT_TRUE(found);
    // The cleanup log: dns_cache leaked, tcp_conv was terminated (forced).
    bool dns_leak = false, tcp_forced = false;
    for (const CleanupRef &r : m->agg.cleanups) {
        const model::Expert &e = s.experts[r.expert];
        const model::Cleanup &c = e.cleanups[r.cleanup];
        if (e.name == "dns_cache") {
            dns_leak = c.outcome == model::Outcome::Done && c.blocks == 90 && !c.stacks.empty() &&
                       stack_has(s, c.stacks[0].stack, "dns_cache_insert");
        }
        if (e.name == "tcp_conv") tcp_forced = c.outcome == model::Outcome::Terminated && c.blocks == 300 && c.bytes == 450000;
    }
    EXPECT_TRUE(dns_leak);
    EXPECT_TRUE(tcp_forced);
    // Misuse: the double free, the unknown pointer and the foreign key.
    std::set<model::MisuseKind> kinds;
    for (const MisuseRef &r : m->agg.misuse) kinds.insert(s.experts[r.expert].misuse[r.misuse].kind);
    EXPECT_TRUE(kinds.count(model::MisuseKind::DoubleFree));
    EXPECT_TRUE(kinds.count(model::MisuseKind::ForeignKey));
    EXPECT_EQ(session.status().level, Level::Ok);
}

TEST_F(GuiSession, BadFilesReportErrorsAndKeepRunning) {
    Session session;
    session.open_file(path("missing.nmsnap"));
    ASSERT_TRUE(session.wait_idle(10000));
    StatusLine st = session.status();
    EXPECT_EQ(st.level, Level::Error);
    EXPECT_NE(st.message.find("missing.nmsnap"), std::string::npos) << st.message;
    EXPECT_EQ(session.current()->generation, 0u);

    const std::string junk = path("junk.nmsnap");
    std::ofstream(junk) << "NMLKSNAP but not really a snapshot";
    session.open_file(junk);
    ASSERT_TRUE(session.wait_idle(10000));
    EXPECT_EQ(session.status().level, Level::Error);

    // The session still works afterwards.
    session.open_file(path("phase1.nmsnap"));
    ASSERT_TRUE(session.wait_idle(20000));
    EXPECT_EQ(session.current()->generation, 1u);
}

TEST_F(GuiSession, SavesExportsAndCompares) {
    Session session;
    session.open_file(path("phase2.nmsnap"));
    ASSERT_TRUE(session.wait_idle(20000));
    session.save_snapshot(path("saved.nmsnap"));
    session.export_report(path("report.json"), "json");
    session.export_report(path("report.sarif"), "sarif");
    session.export_report(path("report.folded"), "folded");
    session.export_report(path("report.txt"), "text");
    ASSERT_TRUE(session.wait_idle(20000));
    Snapshot back;
    std::string error;
    ASSERT_TRUE(snapshot_io::read_file(path("saved.nmsnap"), &back, &error)) << error;
    EXPECT_EQ(back.experts.size(), session.current()->snap->experts.size());
    for (const char *f : {"report.json", "report.sarif", "report.folded", "report.txt"})
        EXPECT_GT(std::filesystem::file_size(path(f)), 10u) << f;

    session.compare(path("phase1.nmsnap"), "");
    ASSERT_TRUE(session.wait_idle(20000));
    auto d = session.diff();
    ASSERT_NE(d, nullptr);
    EXPECT_GT(d->diff.delta_bytes, 0); // phase 2 holds more
    bool http_grew = false;
    for (const auto &e : d->diff.experts)
        if (e.name == "http_parser") http_grew = e.change == report::Change::Grew;
    EXPECT_TRUE(http_grew);

    session.export_report("/nonexistent-dir/x.json", "json");
    ASSERT_TRUE(session.wait_idle(20000));
    EXPECT_EQ(session.status().level, Level::Error);
}

std::string slurp(const std::string &p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(GuiExport, OffersEveryReportFormatOfTheLibrary) {
    std::set<report::Format> offered;
    std::set<std::string> names;
    for (const ExportFormat &f : export_formats()) {
        const auto fmt = report::parse_format(f.name);
        ASSERT_TRUE(fmt) << f.name;
        offered.insert(*fmt);
        names.insert(f.name);
        // The extension leads back to the same format.
        EXPECT_EQ(report::format_for_path(std::string("x") + f.extension), fmt) << f.extension;
    }
    for (report::Format f : {report::Format::Text, report::Format::Json, report::Format::Sarif, report::Format::Folded,
                             report::Format::Snapshot, report::Format::Pprof, report::Format::Html})
        EXPECT_TRUE(offered.count(f)) << report::to_string(f);
    EXPECT_EQ(names.size(), export_formats().size());
    EXPECT_EQ(strip_export_extension("out/run.pb.gz"), "out/run");
    EXPECT_EQ(strip_export_extension("out/run.sarif"), "out/run");
    EXPECT_EQ(strip_export_extension("run.data"), "run");
    EXPECT_EQ(strip_export_extension("run"), "run");
}

TEST_F(GuiSession, ExportsEveryFormatReadBack) {
    Session session;
    session.open_file(path("phase2.nmsnap"));
    ASSERT_TRUE(session.wait_idle(20000));
    for (const ExportFormat &f : export_formats()) {
        SCOPED_TRACE(f.name);
        const std::string out = path((std::string("export") + f.extension).c_str());
        session.export_report(out, f.name);
        ASSERT_TRUE(session.wait_idle(20000));
        EXPECT_EQ(session.status().level, Level::Ok) << session.status().message;
        ASSERT_TRUE(std::filesystem::exists(out));
        const std::string bytes = slurp(out);
        ASSERT_GT(bytes.size(), 10u);
        const std::string name(f.name);
        if (name == "pprof") {
            EXPECT_EQ(uint8_t(bytes[0]), 0x1f); // gzip
            EXPECT_EQ(uint8_t(bytes[1]), 0x8b);
        } else if (name == "snapshot") {
            Snapshot back;
            std::string error;
            EXPECT_TRUE(snapshot_io::read_file(out, &back, &error)) << error;
        } else {
            // Every text format names the allocation site of the open http_parser key.
            EXPECT_NE(bytes.find("http_read_body"), std::string::npos) << bytes.substr(0, 400);
        }
    }
    // The pprof export, read by the real reader when it is installed.
    if (std::system("command -v go >/dev/null 2>&1") == 0 && std::filesystem::exists(path("export.pb.gz"))) {
        const std::string home = path("gohome");
        std::filesystem::create_directories(home);
        const std::string cmd = "HOME=" + home + " GOCACHE=" + home + "/cache GOPATH=" + home +
                                "/path GOPROXY=off GOFLAGS= GOTOOLCHAIN=local go tool pprof -top -sample_index=outstanding_space " + path("export.pb.gz") +
                                " > " + path("pprof-top.txt") + " 2>&1";
        EXPECT_EQ(std::system(cmd.c_str()), 0) << slurp(path("pprof-top.txt"));
        EXPECT_NE(slurp(path("pprof-top.txt")).find("http_read_body"), std::string::npos) << slurp(path("pprof-top.txt"));
    }
}

TEST_F(GuiSession, LiveCommandsWithoutALiveSourceOnlyWarn) {
    Session session;
    session.request_snapshot();
    EXPECT_EQ(session.status().level, Level::Warning);
    session.request_terminate(1, "x");
    EXPECT_EQ(session.status().level, Level::Warning);
    session.save_snapshot(path("nothing.nmsnap"));
    EXPECT_EQ(session.status().level, Level::Warning);
    EXPECT_FALSE(std::filesystem::exists(path("nothing.nmsnap")));
}

} // namespace
} // namespace nm::gui

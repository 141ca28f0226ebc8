// test_report_diff.cpp - `nmleak diff`'s model: matching by symbols across runs, and its output.
#include <nmleak/report_diff.hpp>

#include "unit/golden.hpp"
#include "unit/report_sample.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

using nm::report::Change;

namespace {

// What a second run of the same build looks like: every address moved (ASLR) and every frame and
// stack id renumbered, while the symbols stay.
nm::model::Snapshot scrambled(nm::model::Snapshot s) {
    const uint64_t shift = 0x1000000;
    for (auto &m : s.modules) m.base += shift;
    for (auto &f : s.frames)
        if (!f.module.empty()) f.address += shift;
    const uint32_t nf = static_cast<uint32_t>(s.frames.size());
    std::reverse(s.frames.begin(), s.frames.end());
    for (auto &st : s.stacks)
        for (auto &f : st.frames) f = nf - 1 - f;
    // Stack 0 stays the empty stack; the others are reversed.
    const uint32_t ns = static_cast<uint32_t>(s.stacks.size());
    std::reverse(s.stacks.begin() + 1, s.stacks.end());
    auto remap = [&](uint32_t &id) {
        if (id != 0) id = ns - id;
    };
    for (auto &e : s.experts) {
        for (auto &b : e.blocks) remap(b.stack);
        for (auto &c : e.cleanups)
            for (auto &g : c.stacks) remap(g.stack);
        for (auto &m : e.misuse) remap(m.stack);
        remap(e.crash_stack);
    }
    s.process.pid = 5151;
    s.process.snapshot_ms = 3000;
    return s;
}

nm::model::Snapshot after_snapshot() {
    auto s = nm::test::sample_snapshot();
    // http key 1 leaked twice as much from parse().
    s.experts[0].cleanups[0].stacks[0] = {1, 4, 8192};
    s.experts[0].cleanups[0].blocks = 5;
    s.experts[0].cleanups[0].bytes = 8292;
    s.experts[0].allocs = 20;
    // dns freed its cache blocks: that stack is gone.
    s.experts[1].blocks = {{0x7f00aa000140, 32, 4, 240}};
    s.experts[1].live_blocks = 1;
    s.experts[1].live_bytes = 32;
    s.experts[1].frees = 19;
    // sizes-only leaked less.
    s.experts[6].cleanups[0].blocks = 3;
    s.experts[6].cleanups[0].bytes = 300;
    // A new expert with a new leak.
    nm::model::Expert smtp;
    smtp.id = 9;
    smtp.name = "smtp";
    smtp.state = nm::model::ExpertState::Closed;
    smtp.outcome = nm::model::Outcome::Done;
    smtp.allocs = 2;
    smtp.peak_bytes = 512;
    s.frames.push_back({0x7f0000105000, "smtp_parse", "/src/experts/smtp/parse.c", 7, "/opt/analyzer/experts/libsmtp_expert.so", 0x5000});
    s.stacks.push_back({{static_cast<uint32_t>(s.frames.size() - 1), 2, 3}});
    smtp.cleanups.push_back({900, nm::model::Outcome::Done, 1, 512,
                             {{static_cast<uint32_t>(s.stacks.size() - 1), 1, 512}}, 0, 0, {}, 0, 0, {}, {}});
    s.experts.push_back(smtp);
    return scrambled(s);
}

TEST(ReportDiff, SameSnapshotScrambledIsUnchanged) {
    auto before = nm::test::sample_snapshot();
    auto after = scrambled(before);
    auto d = nm::report::diff(before, after);
    EXPECT_TRUE(d.stacks.empty());
    EXPECT_EQ(d.unchanged_stacks, 6u); // both "http" keys' parse() leaks are one expert+stack
    EXPECT_EQ(d.delta_bytes, 0);
    for (const auto &e : d.experts) EXPECT_EQ(e.change, Change::Same) << e.name;
}

TEST(ReportDiff, FindsNewGrownShrunkAndGone) {
    auto before = nm::test::sample_snapshot();
    auto after = after_snapshot();
    auto d = nm::report::diff(before, after);
    ASSERT_EQ(d.stacks.size(), 4u);
    EXPECT_EQ(d.stacks[0].change, Change::Grew);
    EXPECT_EQ(d.stacks[0].expert, "http");
    EXPECT_EQ(d.stacks[0].delta_bytes(), 4096);
    EXPECT_EQ(d.stacks[0].before.bytes, 4096u + 2048); // both http keys, one stack
    EXPECT_EQ(d.stacks[1].change, Change::New);
    EXPECT_EQ(d.stacks[1].expert, "smtp");
    EXPECT_EQ(d.stacks[2].change, Change::Gone);
    EXPECT_EQ(d.stacks[2].expert, "dns");
    EXPECT_EQ(d.stacks[2].delta_bytes(), -256);
    EXPECT_EQ(d.stacks[3].change, Change::Shrank);
    EXPECT_EQ(d.stacks[3].expert, "sizes-only");
    EXPECT_EQ(d.count(Change::Same), 3u);
    EXPECT_EQ(d.delta_bytes, 4096 + 512 - 256 - 200);
    auto smtp = std::find_if(d.experts.begin(), d.experts.end(), [](auto &e) { return e.name == "smtp"; });
    ASSERT_NE(smtp, d.experts.end());
    EXPECT_EQ(smtp->change, Change::New);
}

TEST(ReportDiff, SuppressionsApplyToBothSides) {
    nm::report::Suppressions sup;
    std::string error;
    ASSERT_TRUE(sup.add_text("leak:smtp_parse\n", "t", &error));
    nm::report::Options o;
    o.suppressions = &sup;
    auto before = nm::test::sample_snapshot();
    auto after = after_snapshot();
    auto d = nm::report::diff(before, after, o);
    EXPECT_EQ(d.count(Change::New), 0u);
}

TEST(ReportDiffGolden, Text) {
    auto before = nm::test::sample_snapshot();
    auto after = after_snapshot();
    std::ostringstream out;
    nm::report::write_diff_text(out, nm::report::diff(before, after));
    nm::test::expect_golden("diff.txt.expected", out.str());
}

TEST(ReportDiffGolden, Json) {
    auto before = nm::test::sample_snapshot();
    auto after = after_snapshot();
    std::ostringstream out;
    nm::report::write_diff_json(out, nm::report::diff(before, after));
    nm::test::expect_golden("diff.json.expected", out.str());
    auto doc = nlohmann::json::parse(out.str());
    EXPECT_EQ(doc["kind"], "diff");
    EXPECT_EQ(doc["counts"]["new"], 1);
    EXPECT_EQ(doc["stacks"][0]["stack"][0]["function"],
              "http::Parser::parse(unsigned char const*, unsigned long)");
}

} // namespace

// Leak counting on a snapshot classified by reachability: only lost outstanding blocks count unless
// Options::count_reachable; "done" closes count either way; per-key class totals; the writers say
// which class a group is.
#include <gtest/gtest.h>

#include <nmleak/report.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

namespace {

using nm::model::Reach;

nm::model::Snapshot classified(bool reach_classified) {
    nm::model::Snapshot s;
    s.process.reach_classified = reach_classified;
    s.stacks.resize(3);
    nm::model::Expert open;
    open.id = 1;
    open.name = "open";
    open.state = nm::model::ExpertState::Running;
    auto add = [&](uint64_t addr, uint64_t size, uint32_t stack, Reach r) {
        nm::model::Block b;
        b.address = addr;
        b.size = size;
        b.stack = stack;
        b.reach = r;
        open.blocks.push_back(b);
    };
    add(0x1000, 100, 1, Reach::Reachable);
    add(0x2000, 10, 1, Reach::DefinitelyLost);
    add(0x3000, 20, 2, Reach::IndirectlyLost);
    add(0x4000, 7, 2, Reach::Unknown);
    open.live_blocks = 4;
    open.live_bytes = 137;
    nm::model::Expert done;
    done.id = 2;
    done.name = "done";
    done.state = nm::model::ExpertState::Closed;
    nm::model::Cleanup c;
    c.outcome = nm::model::Outcome::Done;
    c.blocks = 1;
    c.bytes = 50;
    c.stacks.push_back({1, 1, 50});
    done.cleanups.push_back(c);
    s.experts = {open, done};
    return s;
}

TEST(ReportReach, OnlyLostOutstandingBlocksCount) {
    const auto s = classified(true);
    const auto r = nm::report::build_report(s);
    EXPECT_TRUE(r.classified);
    EXPECT_EQ(r.outstanding.bytes, 10u + 20u + 7u); // an unclassified block still counts
    EXPECT_EQ(r.reachable.bytes, 100u);
    EXPECT_EQ(r.reachable.blocks, 1u);
    EXPECT_EQ(r.leaked.bytes, 50u); // the contract: a done close's blocks are leaks
    for (const auto &g : r.leaks) EXPECT_NE(g.reach, Reach::Reachable);
    const auto &t = r.experts[0].reach;
    EXPECT_EQ(t.bytes[size_t(Reach::Reachable)], 100u);
    EXPECT_EQ(t.bytes[size_t(Reach::DefinitelyLost)], 10u);
    EXPECT_EQ(t.bytes[size_t(Reach::IndirectlyLost)], 20u);
    EXPECT_EQ(t.bytes[size_t(Reach::Unknown)], 7u);
}

TEST(ReportReach, CountReachableCountsEverything) {
    const auto s = classified(true);
    nm::report::Options o;
    o.count_reachable = true;
    const auto r = nm::report::build_report(s, o);
    EXPECT_EQ(r.outstanding.bytes, 137u);
    EXPECT_EQ(r.reachable.bytes, 0u);
    EXPECT_EQ(nm::report::count_leaks(s, o).outstanding.bytes, 137u);
}

TEST(ReportReach, UnclassifiedSnapshotCountsEveryOutstandingBlock) {
    const auto s = classified(false);
    const auto r = nm::report::build_report(s);
    EXPECT_FALSE(r.classified);
    EXPECT_EQ(r.outstanding.bytes, 137u);
    for (const auto &g : r.leaks) EXPECT_EQ(g.reach, Reach::Unknown);
}

TEST(ReportReach, ReachableOnlyDoesNotFail) {
    auto s = classified(true);
    s.experts[0].blocks.resize(1); // only the reachable block
    s.experts.pop_back();          // no done close
    nm::report::EnvSettings settings;
    settings.fail_on_leak = true;
    EXPECT_EQ(nm::report::exit_code_for(s, settings), nm::report::kExitOk);
    settings.count_reachable = true;
    EXPECT_EQ(nm::report::exit_code_for(s, settings), nm::report::kExitLeaks);
}

TEST(ReportReach, WritersNameTheClass) {
    const auto s = classified(true);
    const auto r = nm::report::build_report(s);
    std::ostringstream text, json;
    nm::report::write_text(text, r);
    nm::report::write_json(json, r);
    EXPECT_NE(text.str().find("definitely lost:"), std::string::npos) << text.str();
    EXPECT_NE(text.str().find("indirectly lost:"), std::string::npos) << text.str();
    EXPECT_NE(text.str().find("open (key 1): definitely lost 10 bytes in 1 block, indirectly lost 20 bytes in 1 "
                              "block, still reachable 100 bytes in 1 block, not classified 7 bytes in 1 block"),
              std::string::npos)
        << text.str();
    const auto j = nlohmann::json::parse(json.str());
    EXPECT_EQ(j["summary"]["still_reachable"]["bytes"], 100);
    EXPECT_EQ(j["summary"]["leaks_counted"], "lost");
    EXPECT_EQ(j["experts"][0]["reachability"]["definitely_lost"]["bytes"], 10);
    EXPECT_EQ(j["experts"][0]["reachability"]["reachable"]["blocks"], 1);
    int lost_groups = 0;
    for (const auto &l : j["experts"][0]["leaks"]) {
        ASSERT_TRUE(!l.contains("reach") || l["reach"] != "reachable");
        if (l.contains("reach")) ++lost_groups;
    }
    EXPECT_EQ(lost_groups, 2);
}

TEST(ReportReach, EnvironmentChoosesWhatCounts) {
    nm::report::EnvSettings st;
    std::string error;
    ::setenv("NMLEAK_LEAKS", "all", 1);
    EXPECT_TRUE(nm::report::settings_from_env(&st, &error)) << error;
    EXPECT_TRUE(st.options().count_reachable);
    ::setenv("NMLEAK_LEAKS", "lost", 1);
    EXPECT_TRUE(nm::report::settings_from_env(&st, &error));
    EXPECT_FALSE(st.options().count_reachable);
    ::setenv("NMLEAK_LEAKS", "bogus", 1);
    EXPECT_FALSE(nm::report::settings_from_env(&st, &error));
    EXPECT_NE(error.find("NMLEAK_LEAKS"), std::string::npos);
    ::unsetenv("NMLEAK_LEAKS");
}

} // namespace

// test_runner_crash_loop.cpp - many crashing runs in one host process: it stays up, every run is
// reported and reclaimed, and its resident memory does not creep.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdio>

#include "support/runner_fixture.hpp"

namespace {

struct Loaded {
    NMEXPERT *expert = nullptr;
    Loaded() {
        char err[NM_RUNNER_TEXT_SZ];
        EXPECT_EQ(NmLoadExpert(NMT_PROBE_EXPERT, &expert, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    }
    ~Loaded() { NmFreeExpert(expert); }
};

NMRUNRESULT run_once(NMEXPERT *expert, PEXPERTCONFIG config, const char *key) {
    NMRUNOPTIONS opts{};
    opts.pConfig = config;
    opts.szKeyName = key;
    NMRUN *run = nullptr;
    char err[NM_RUNNER_TEXT_SZ];
    NMRUNRESULT r{};
    EXPECT_EQ(NmStartExpert(expert, &opts, &run, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    if (!run) return r;
    EXPECT_EQ(NmWaitExpert(run, 10000, &r), DWORD(NMERR_SUCCESS));
    NmFreeRun(run);
    return r;
}

TEST(RunnerCrashLoop, TwoHundredSegfaultsKeepTheHostUpAndItsMemoryFlat) {
    Loaded probe;
    ASSERT_NE(probe.expert, nullptr);
    nmt::ProbeConfig segv("segv");
    uint64_t ids_before = 0; // keys from earlier tests (or --gtest_repeat rounds) are not counted
    for (const auto &e : nm::capture_snapshot(false).experts) ids_before = std::max(ids_before, e.id);
    uint64_t after_first = 0;
    SIZE_T reclaimed_blocks = 0;
    for (int i = 0; i < 200; ++i) {
        NMRUNRESULT r = run_once(probe.expert, segv.get(), "crash-loop");
        ASSERT_EQ(r.Outcome, DWORD(NM_OUTCOME_CRASHED)) << "run " << i << ": " << r.szDetail;
        ASSERT_EQ(r.Signal, SIGSEGV);
        ASSERT_TRUE(r.KeyClosed);
        ASSERT_EQ(r.Cleanup.Blocks, 4u);
        ASSERT_EQ(r.Cleanup.Bytes, 400u);
        reclaimed_blocks += r.Cleanup.Blocks;
        if (i == 0) after_first = nmt::resident_bytes();
    }
    uint64_t after_last = nmt::resident_bytes();
    EXPECT_EQ(reclaimed_blocks, 800u);
    double growth = double(after_last) / double(after_first) - 1.0;
    EXPECT_LT(growth, 0.05) << "resident after the first run " << after_first << " B, after the 200th "
                            << after_last << " B";
    RecordProperty("rss_after_first", std::to_string(after_first));
    RecordProperty("rss_after_last", std::to_string(after_last));
    std::printf("resident after run 1: %llu KiB, after run 200: %llu KiB (%+.2f%%)\n",
                (unsigned long long)(after_first / 1024), (unsigned long long)(after_last / 1024), growth * 100.0);

    // Every run is in the record with its crash.
    auto snap = nm::capture_snapshot(false);
    size_t crashed = 0;
    for (const auto &e : snap.experts)
        if (e.id > ids_before && e.name == "crash-loop" && e.outcome == nm::model::Outcome::Crashed &&
            e.crash_signal == SIGSEGV)
            ++crashed;
    EXPECT_EQ(crashed, 200u);
}

TEST(RunnerCrashLoop, StackOverflowsAndAbortsRepeatedly) {
    Loaded probe;
    ASSERT_NE(probe.expert, nullptr);
    nmt::ProbeConfig overflow("overflow"), abrt("abort");
    for (int i = 0; i < 20; ++i) {
        NMRUNRESULT a = run_once(probe.expert, overflow.get(), "overflow-loop");
        ASSERT_EQ(a.Outcome, DWORD(NM_OUTCOME_CRASHED)) << a.szDetail;
        ASSERT_EQ(a.Signal, SIGSEGV);
        NMRUNRESULT b = run_once(probe.expert, abrt.get(), "abort-loop");
        ASSERT_EQ(b.Outcome, DWORD(NM_OUTCOME_CRASHED)) << b.szDetail;
        ASSERT_EQ(b.Signal, SIGABRT);
    }
}

} // namespace

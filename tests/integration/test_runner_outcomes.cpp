// test_runner_outcomes.cpp - every way a run can end, end to end through a real expert shared
// object: the outcome, the detail, and the cleanup record (blocks, bytes, allocating function).
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <atomic>
#include <thread>

#include "support/runner_fixture.hpp"

namespace {

using nmt::RunSpec;

struct Checked {
    NMRUNRESULT result;
    nm::model::Snapshot snap;
    const nm::model::Expert *rec;
};

// Runs the probe under a unique key name and returns the result and its snapshot record.
Checked run_probe(const std::string &behaviour, const std::string &key, DWORD deadline_ms = 0, DWORD grace_ms = 0) {
    RunSpec spec;
    spec.behaviour = behaviour;
    spec.key_name = key;
    spec.deadline_ms = deadline_ms;
    spec.grace_ms = grace_ms;
    DWORD rc = 0;
    Checked c{nmt::run_expert(spec, &rc), {}, nullptr};
    EXPECT_EQ(rc, DWORD(NMERR_SUCCESS)) << c.result.szDetail;
    c.snap = nm::capture_snapshot(false);
    c.rec = nmt::find_expert(c.snap, key);
    return c;
}

// The closed record's cleanup: its single event, with the biggest stack naming `function`.
void expect_cleanup(const Checked &c, nm::model::Outcome outcome, uint64_t blocks, uint64_t bytes,
                    const std::string &function) {
    ASSERT_NE(c.rec, nullptr);
    EXPECT_EQ(c.rec->state, nm::model::ExpertState::Closed);
    EXPECT_EQ(c.rec->outcome, outcome);
    EXPECT_EQ(c.result.Cleanup.Blocks, blocks);
    EXPECT_EQ(c.result.Cleanup.Bytes, bytes);
    ASSERT_EQ(c.rec->cleanups.size(), 1u);
    EXPECT_EQ(c.rec->cleanups[0].outcome, outcome);
    EXPECT_EQ(c.rec->cleanups[0].blocks, blocks);
    EXPECT_EQ(c.rec->cleanups[0].bytes, bytes);
    EXPECT_EQ(c.rec->outcome_detail, c.result.szDetail);
    if (blocks == 0) return;
    ASSERT_FALSE(c.rec->cleanups[0].stacks.empty());
    auto fns = nmt::stack_functions(c.snap, c.rec->cleanups[0].stacks[0].stack);
    EXPECT_TRUE(nmt::names_function(fns, function)) << "stack: " << nmt::joined(fns);
    EXPECT_TRUE(nmt::names_function(fns, "Run")) << "stack: " << nmt::joined(fns);
}

TEST(RunnerOutcomes, RunTrueIsDoneAndItsBlocksAreLeaksAtTheAllocatingFunction) {
    Checked c = run_probe("leak:5", "outcome-leak");
    EXPECT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_DONE));
    EXPECT_TRUE(c.result.KeyClosed);
    EXPECT_TRUE(c.result.RunReturned);
    EXPECT_TRUE(c.result.RunValue);
    EXPECT_STREQ(c.result.szDetail, "Run returned TRUE");
    EXPECT_STREQ(c.result.szKeyName, "outcome-leak");
    expect_cleanup(c, nm::model::Outcome::Done, 5, 5 * 48, "probe_leak_blocks");
    EXPECT_EQ(c.rec->allocs, 5u);
    EXPECT_EQ(c.rec->peak_bytes, 5u * 48);
}

TEST(RunnerOutcomes, CleanRunLeavesNothing) {
    Checked c = run_probe("clean", "outcome-clean");
    EXPECT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_DONE));
    expect_cleanup(c, nm::model::Outcome::Done, 0, 0, "");
    EXPECT_EQ(c.rec->allocs, 8u);
    EXPECT_EQ(c.rec->frees, 8u);
}

TEST(RunnerOutcomes, ConfigureRunsWhenTheHostGivesNoConfig) {
    // The probe's Configure allocates the config through the key; the runner takes it over (a
    // copy the host owns) and frees the block, so Run sees it and nothing is left.
    Checked c = run_probe("", "outcome-configure");
    EXPECT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_DONE)) << c.result.szDetail;
    expect_cleanup(c, nm::model::Outcome::Done, 0, 0, "");
    EXPECT_EQ(c.rec->allocs, 1u);
    EXPECT_EQ(c.rec->frees, 1u);
    EXPECT_EQ(c.rec->misuse_count, 0u);
}

TEST(RunnerOutcomes, RunFalseIsFailedWithAForcedCleanup) {
    Checked c = run_probe("false", "outcome-false");
    EXPECT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_FAILED));
    EXPECT_TRUE(c.result.RunReturned);
    EXPECT_FALSE(c.result.RunValue);
    EXPECT_STREQ(c.result.szDetail, "Run returned FALSE");
    expect_cleanup(c, nm::model::Outcome::Failed, 4, 400, "probe_hold_blocks");
}

TEST(RunnerOutcomes, EscapedExceptionIsFailedWithItsMessage) {
    Checked c = run_probe("throw", "outcome-throw");
    EXPECT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_FAILED));
    EXPECT_FALSE(c.result.RunReturned);
    EXPECT_STREQ(c.result.szDetail, "Run threw std::runtime_error: probe: malformed record");
    expect_cleanup(c, nm::model::Outcome::Failed, 4, 400, "probe_hold_blocks");
}

TEST(RunnerOutcomes, NonStandardExceptionNamesItsType) {
    Checked c = run_probe("throw_int", "outcome-throw-int");
    EXPECT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_FAILED));
    EXPECT_STREQ(c.result.szDetail, "Run threw int (not a std::exception)");
    expect_cleanup(c, nm::model::Outcome::Failed, 4, 400, "probe_hold_blocks");
}

TEST(RunnerOutcomes, PthreadExitInRunIsFailedAndTheHostSurvives) {
    Checked c = run_probe("pthread_exit", "outcome-pthread-exit");
    EXPECT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_FAILED));
    EXPECT_STREQ(c.result.szDetail, "Run ended the run's thread (pthread_exit)");
    expect_cleanup(c, nm::model::Outcome::Failed, 4, 400, "probe_hold_blocks");
}

struct CrashCase {
    const char *behaviour;
    int signal;
    const char *detail_start;
};

class RunnerCrash : public ::testing::TestWithParam<CrashCase> {};

TEST_P(RunnerCrash, HostSurvivesAndTheBlocksAreReclaimed) {
    const CrashCase &cc = GetParam();
    std::string key = std::string("crash-") + cc.behaviour;
    Checked c = run_probe(cc.behaviour, key);
    EXPECT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_CRASHED)) << c.result.szDetail;
    EXPECT_EQ(c.result.Signal, cc.signal);
    EXPECT_TRUE(c.result.KeyClosed);
    EXPECT_EQ(std::string(c.result.szDetail).rfind(cc.detail_start, 0), 0u) << c.result.szDetail;
    EXPECT_NE(c.result.FaultPc, 0u);
    expect_cleanup(c, nm::model::Outcome::Crashed, 4, 400, "probe_hold_blocks");
    EXPECT_EQ(c.rec->crash_signal, cc.signal);
    EXPECT_NE(c.rec->crash_stack, 0u) << "the faulting stack is recorded";
}

INSTANTIATE_TEST_SUITE_P(
    AllSignals, RunnerCrash,
    ::testing::Values(CrashCase{"segv", SIGSEGV, "crashed: SIGSEGV (address not mapped) at address 0x10"},
                      CrashCase{"bus", SIGBUS, "crashed: SIGBUS"}, CrashCase{"fpe", SIGFPE, "crashed: SIGFPE (integer divide by zero)"},
                      CrashCase{"ill", SIGILL, "crashed: SIGILL"}, CrashCase{"abort", SIGABRT, "crashed: SIGABRT (abort)"},
                      CrashCase{"overflow", SIGSEGV, "crashed: SIGSEGV"}),
    [](const auto &info) { return std::string(info.param.behaviour); });

TEST(RunnerOutcomes, SegvRecordsTheAddressAndTheFaultingFunction) {
    Checked c = run_probe("segv", "crash-segv-detail");
    ASSERT_NE(c.rec, nullptr);
    EXPECT_EQ(c.result.FaultAddress, 0x10u);
    EXPECT_EQ(c.rec->crash_address, 0x10u);
    auto fns = nmt::stack_functions(c.snap, c.rec->crash_stack);
    ASSERT_GE(fns.size(), 2u);
    EXPECT_NE(fns[0].find("probe_crash_segv"), std::string::npos) << nmt::joined(fns);
    EXPECT_TRUE(nmt::names_function(fns, "Run")) << nmt::joined(fns);
    EXPECT_NE(std::string(c.result.szDetail).find("pc nmt_probe_expert.so+0x"), std::string::npos) << c.result.szDetail;
}

TEST(RunnerOutcomes, CrashIsContainedEvenWhenTheHostBlockedTheSignal) {
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGSEGV);
    pthread_sigmask(SIG_BLOCK, &block, &old); // the run's thread inherits this mask
    Checked c = run_probe("segv", "crash-blocked-mask");
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    EXPECT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_CRASHED));
}

TEST(RunnerOutcomes, WritingIntoASharedFrameCrashesOnlyThatExpert) {
    RunSpec spec;
    spec.behaviour = "write_frame";
    spec.key_name = "crash-write-frame";
    spec.capture = NMT_SAMPLE_CAPTURE;
    NMRUNRESULT r = nmt::run_expert(spec);
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_CRASHED)) << r.szDetail;
    EXPECT_EQ(r.Signal, SIGSEGV);
    EXPECT_NE(std::string(r.szDetail).find("access not permitted"), std::string::npos) << r.szDetail;
}

TEST(RunnerOutcomes, CrashInsideExpertGetFrameLeavesTheFrameTableUsable) {
    RunSpec bad;
    bad.behaviour = "bad_descriptor";
    bad.key_name = "crash-in-api";
    bad.capture = NMT_SAMPLE_CAPTURE;
    NMRUNRESULT r = nmt::run_expert(bad);
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_CRASHED)) << r.szDetail;
    EXPECT_GE(r.FaultAddress, 0x18u) << "a field of the wild descriptor";
    EXPECT_LT(r.FaultAddress, 0x18u + sizeof(EXPERTFRAMEDESCRIPTOR));
    EXPECT_NE(std::string(r.szDetail).find("in ExpertGetFrame"), std::string::npos) << r.szDetail;
    // A later run still reads every frame: the crash left no lock behind.
    RunSpec good;
    good.behaviour = "frames";
    good.key_name = "after-crash-in-api";
    good.capture = NMT_SAMPLE_CAPTURE;
    NMRUNRESULT g = nmt::run_expert(good);
    EXPECT_EQ(g.Outcome, DWORD(NM_OUTCOME_DONE)) << g.szDetail;
    EXPECT_GT(g.FramesRead, 1000u);
}

TEST(RunnerOutcomes, DeadlineThenTerminateHonouredIsTerminated) {
    RunSpec spec;
    spec.behaviour = "honour";
    spec.key_name = "terminate-deadline";
    spec.capture = NMT_SAMPLE_CAPTURE;
    spec.deadline_ms = 150;
    spec.grace_ms = 2000;
    auto t0 = std::chrono::steady_clock::now();
    NMRUNRESULT r = nmt::run_expert(spec);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_TERMINATED)) << r.szDetail;
    EXPECT_EQ(std::string(r.szDetail), "deadline of 150 ms passed; stopped after the terminate request (Run returned FALSE)");
    EXPECT_EQ(r.Cleanup.Blocks, 0u) << "the expert freed its blocks itself";
    // Not before the deadline. That it stopped on the request, not when the grace period ran out,
    // is what the detail says (no upper bound on wall time: the machine may be loaded).
    EXPECT_GE(ms, 150);
    EXPECT_GT(r.FramesRead, 0u);
}

TEST(RunnerOutcomes, HostTerminateIsTerminated) {
    NMEXPERT *expert = nullptr;
    char err[NM_RUNNER_TEXT_SZ];
    ASSERT_EQ(NmLoadExpert(NMT_PROBE_EXPERT, &expert, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    nmt::ProbeConfig config("honour");
    NMRUNOPTIONS opts{};
    opts.szCaptureFile = NMT_SAMPLE_CAPTURE;
    opts.pConfig = config.get();
    opts.szKeyName = "terminate-host";
    NMRUN *run = nullptr;
    ASSERT_EQ(NmStartExpert(expert, &opts, &run, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    NMRUNRESULT r{};
    EXPECT_EQ(NmWaitExpert(run, 100, &r), DWORD(NMERR_TIMEOUT)) << "still running: it reads slowly";
    EXPECT_EQ(nm::key_check(NmRunKey(run)), uint32_t(NMERR_SUCCESS));
    EXPECT_EQ(NmTerminateRun(run), DWORD(NMERR_SUCCESS));
    ASSERT_EQ(NmWaitExpert(run, 10000, &r), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_TERMINATED)) << r.szDetail;
    EXPECT_EQ(std::string(r.szDetail), "terminate requested by the host; stopped after the terminate request (Run returned FALSE)");
    EXPECT_EQ(nm::key_check(NmRunKey(run)), uint32_t(NMERR_INVALID_EXPERT_HANDLE)) << "the key is closed";
    NmFreeRun(run);
    NmFreeExpert(expert);
}

class RunnerTimeout : public ::testing::TestWithParam<const char *> {};

TEST_P(RunnerTimeout, ExpertIgnoringTerminateIsInterruptedAndReclaimed) {
    std::string key = std::string("timeout-") + GetParam();
    auto t0 = std::chrono::steady_clock::now();
    Checked c = run_probe(GetParam(), key, 100, 100);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_TIMEOUT)) << c.result.szDetail;
    EXPECT_TRUE(c.result.KeyClosed) << c.result.szDetail;
    EXPECT_FALSE(c.result.RunReturned);
    EXPECT_NE(std::string(c.result.szDetail).find("deadline of 100 ms passed; still running 100 ms after the terminate "
                                                  "request; stopped by interrupt"),
              std::string::npos)
        << c.result.szDetail;
    // Deadline plus grace at least. That the interrupt stopped it (not the waiters' give-up) is
    // what the detail says.
    EXPECT_GE(ms, 200);
    expect_cleanup(c, nm::model::Outcome::Timeout, 4, 400, "probe_hold_blocks");
}

INSTANTIATE_TEST_SUITE_P(SpinSleepOrApi, RunnerTimeout, ::testing::Values("spin", "sleep", "spin_api"));

TEST(RunnerOutcomes, ThreadWithNoSafePointIsAbandonedWithItsKeyOpenThenClosedWhenItReturns) {
    NMEXPERT *expert = nullptr;
    char err[NM_RUNNER_TEXT_SZ];
    ASSERT_EQ(NmLoadExpert(NMT_PROBE_EXPERT, &expert, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    void *probe = dlopen(NMT_PROBE_EXPERT, RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(probe, nullptr);
    auto *block_fd = static_cast<std::atomic<int> *>(dlsym(probe, "probe_block_fd"));
    ASSERT_NE(block_fd, nullptr);
    block_fd->store(-1);
    nmt::ProbeConfig config("blocked_read");
    NMRUNOPTIONS opts{};
    opts.pConfig = config.get();
    opts.szKeyName = "abandoned-run";
    opts.DeadlineMs = 50;
    opts.GraceMs = 50;
    NMRUN *run = nullptr;
    ASSERT_EQ(NmStartExpert(expert, &opts, &run, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    NMRUNRESULT r{};
    ASSERT_EQ(NmWaitExpert(run, 10000, &r), DWORD(NMERR_SUCCESS)) << "waiters are not kept waiting for ever";
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_TIMEOUT));
    EXPECT_FALSE(r.KeyClosed);
    EXPECT_NE(std::string(r.szDetail).find("abandoned with its key open"), std::string::npos) << r.szDetail;
    EXPECT_STREQ(r.szKeyName, "abandoned-run");
    HEXPERTKEY key = NmRunKey(run);
    EXPECT_EQ(nm::key_check(key), uint32_t(NMERR_EXPERT_TERMINATE)) << "still open: its memory may still be in use";
    {
        auto snap = nm::capture_snapshot(false);
        const auto *rec = nmt::find_expert(snap, "abandoned-run");
        ASSERT_NE(rec, nullptr);
        EXPECT_EQ(rec->state, nm::model::ExpertState::TerminateRequested);
        EXPECT_EQ(rec->outcome_detail, r.szDetail) << "the GUI shows why it is stuck";
    }
    // Let it go: read() returns, Run returns, and the run closes its key as a late timeout.
    for (int i = 0; i < 100 && block_fd->load() < 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_GE(block_fd->load(), 0);
    ASSERT_EQ(write(block_fd->load(), "x", 1), 1);
    for (int i = 0; i < 500 && nm::key_check(key) != NMERR_INVALID_EXPERT_HANDLE; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(nm::key_check(key), uint32_t(NMERR_INVALID_EXPERT_HANDLE));
    ASSERT_EQ(NmWaitExpert(run, 0, &r), DWORD(NMERR_SUCCESS));
    EXPECT_TRUE(r.KeyClosed);
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_TIMEOUT));
    EXPECT_NE(std::string(r.szDetail).find("after the grace period of 50 ms (Run returned TRUE)"), std::string::npos)
        << r.szDetail;
    EXPECT_EQ(r.Cleanup.Blocks, 4u);
    close(block_fd->load());
    NmFreeRun(run);
    NmFreeExpert(expert);
    dlclose(probe);
}

TEST(RunnerOutcomes, InterruptedThreadLeavesTheTrackerUsable) {
    // spin_api is interrupted between API calls; afterwards every API path still works.
    Checked c = run_probe("spin_api", "timeout-then-use", 50, 50);
    ASSERT_EQ(c.result.Outcome, DWORD(NM_OUTCOME_TIMEOUT));
    HEXPERTKEY key = NmOpenExpertKey("after-interrupt");
    ASSERT_NE(key, nullptr);
    DWORD err = 1;
    void *p = ExpertAllocMemory(key, 100, &err);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(err, DWORD(NMERR_SUCCESS));
    EXPECT_EQ(ExpertFreeMemory(key, p), SIZE_T(NMERR_SUCCESS));
    NMCLEANUPINFO info{};
    EXPECT_EQ(NmCloseExpertKey(key, NM_OUTCOME_DONE, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.Blocks, 0u);
}

TEST(RunnerOutcomes, SeveralExpertsRunAtOnceEachWithItsOwnOutcome) {
    struct Want {
        const char *behaviour;
        DWORD outcome;
        SIZE_T blocks;
    };
    const Want wants[] = {{"leak:3", NM_OUTCOME_DONE, 3},       {"segv", NM_OUTCOME_CRASHED, 4},
                          {"spin", NM_OUTCOME_TIMEOUT, 4},      {"throw", NM_OUTCOME_FAILED, 4},
                          {"clean", NM_OUTCOME_DONE, 0},        {"honour", NM_OUTCOME_TERMINATED, 0},
                          {"abort", NM_OUTCOME_CRASHED, 4},     {"sleep", NM_OUTCOME_TIMEOUT, 4}};
    NMEXPERT *expert = nullptr;
    char err[NM_RUNNER_TEXT_SZ];
    ASSERT_EQ(NmLoadExpert(NMT_PROBE_EXPERT, &expert, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    std::vector<std::unique_ptr<nmt::ProbeConfig>> configs;
    std::vector<std::string> names;
    std::vector<NMRUN *> runs;
    for (const Want &w : wants) {
        configs.push_back(std::make_unique<nmt::ProbeConfig>(w.behaviour));
        names.push_back(std::string("parallel-") + w.behaviour);
    }
    for (size_t i = 0; i < std::size(wants); ++i) {
        NMRUNOPTIONS opts{};
        opts.szCaptureFile = NMT_SAMPLE_CAPTURE;
        opts.pConfig = configs[i]->get();
        opts.szKeyName = names[i].c_str();
        opts.DeadlineMs = 300;
        opts.GraceMs = 300;
        NMRUN *run = nullptr;
        ASSERT_EQ(NmStartExpert(expert, &opts, &run, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
        runs.push_back(run);
    }
    for (size_t i = 0; i < runs.size(); ++i) {
        NMRUNRESULT r{};
        ASSERT_EQ(NmWaitExpert(runs[i], 20000, &r), DWORD(NMERR_SUCCESS));
        EXPECT_EQ(r.Outcome, wants[i].outcome) << wants[i].behaviour << ": " << r.szDetail;
        EXPECT_EQ(r.Cleanup.Blocks, wants[i].blocks) << wants[i].behaviour;
        EXPECT_STREQ(r.szKeyName, names[i].c_str());
        NmFreeRun(runs[i]);
    }
    NmFreeExpert(expert);
}

TEST(RunnerOutcomes, FreeingARunHandleEarlyLetsItFinishOnItsOwn) {
    NMEXPERT *expert = nullptr;
    char err[NM_RUNNER_TEXT_SZ];
    ASSERT_EQ(NmLoadExpert(NMT_PROBE_EXPERT, &expert, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    nmt::ProbeConfig config("spin");
    NMRUNOPTIONS opts{};
    opts.pConfig = config.get();
    opts.szKeyName = "orphaned-run";
    opts.DeadlineMs = 50;
    opts.GraceMs = 50;
    NMRUN *run = nullptr;
    ASSERT_EQ(NmStartExpert(expert, &opts, &run, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    HEXPERTKEY key = NmRunKey(run);
    NmFreeRun(run); // config must outlive the run: it is read by Run right away, then never again
    NmFreeExpert(expert);
    for (int i = 0; i < 300 && nm::key_check(key) != NMERR_INVALID_EXPERT_HANDLE; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(nm::key_check(key), uint32_t(NMERR_INVALID_EXPERT_HANDLE)) << "the orphaned run closed its key";
    auto snap = nm::capture_snapshot(false);
    const auto *rec = nmt::find_expert(snap, "orphaned-run");
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->outcome, nm::model::Outcome::Timeout);
}

// A fault on a thread that is not running an expert still gets what it would have got without the
// runner: here the host's own handler, installed before the runner's.
TEST(RunnerOutcomesDeathTest, FaultOutsideExpertsChainsToThePreviousHandler) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            struct sigaction sa {};
            sa.sa_flags = SA_SIGINFO;
            sa.sa_sigaction = [](int, siginfo_t *, void *) { _exit(42); };
            sigaction(SIGSEGV, &sa, nullptr);
            nmt::run_expert(RunSpec{NMT_PROBE_EXPERT, "segv", "death-chain", "", 0, 0}); // installs the runner
            raise(SIGSEGV);
            _exit(0);
        },
        ::testing::ExitedWithCode(42), "");
}

TEST(RunnerOutcomesDeathTest, FaultOutsideExpertsTakesTheDefaultActionWithoutAHandler) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            nmt::run_expert(RunSpec{NMT_PROBE_EXPERT, "segv", "death-default", "", 0, 0});
            static volatile uintptr_t wild = 0x30;
            *reinterpret_cast<volatile int *>(wild) = 1; // the host's own bug
            _exit(0);
        },
        ::testing::KilledBySignal(SIGSEGV), "");
}

} // namespace

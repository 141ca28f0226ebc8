// test_runner_samples.cpp - the sample experts on the sample capture: what each one is meant to
// show (the leaky one's leak at its allocating function, the clean ones clean, the crash, the
// exception, terminate honoured and ignored), and the demo analyzer end to end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "support/runner_fixture.hpp"

namespace {

using ::testing::HasSubstr;

std::string sample(const char *name) { return std::string(NMT_SAMPLE_EXPERT_DIR) + "/" + name + ".so"; }

struct SampleRun {
    NMRUNRESULT r;
    nm::model::Snapshot snap;
    const nm::model::Expert *rec;
};

SampleRun run_sample(const char *name, const std::string &key, DWORD deadline_ms = 0, DWORD grace_ms = 0) {
    nmt::RunSpec spec;
    spec.expert = sample(name);
    spec.key_name = key;
    spec.capture = NMT_SAMPLE_CAPTURE;
    spec.deadline_ms = deadline_ms;
    spec.grace_ms = grace_ms;
    DWORD rc = 0;
    SampleRun s{nmt::run_expert(spec, &rc), {}, nullptr};
    EXPECT_EQ(rc, DWORD(NMERR_SUCCESS)) << s.r.szDetail;
    s.snap = nm::capture_snapshot(false);
    s.rec = nmt::find_expert(s.snap, key);
    return s;
}

std::vector<std::string> top_cleanup_stack(const SampleRun &s) {
    if (!s.rec || s.rec->cleanups.empty() || s.rec->cleanups[0].stacks.empty()) return {};
    return nmt::stack_functions(s.snap, s.rec->cleanups[0].stacks[0].stack);
}

TEST(Samples, TcpConversationsLeaksEveryClosedConversationAtConvTableInsert) {
    SampleRun s = run_sample("tcp_conv", "sample-tcp-conv");
    EXPECT_EQ(s.r.Outcome, DWORD(NM_OUTCOME_DONE)) << s.r.szDetail;
    // The capture has 200 conversations: 163 closed with FIN, 19 reset, 18 never closed. The 182
    // that ended were forgotten without being freed: 40 bytes each.
    EXPECT_EQ(s.r.Cleanup.Blocks, 182u);
    EXPECT_EQ(s.r.Cleanup.Bytes, 182u * 40);
    ASSERT_NE(s.rec, nullptr);
    EXPECT_EQ(s.rec->status.text, "200 conversations: 182 closed (19 reset), 18 still open");
    ASSERT_EQ(s.rec->cleanups.size(), 1u);
    ASSERT_EQ(s.rec->cleanups[0].stacks.size(), 1u) << "one allocation site leaks";
    auto fns = top_cleanup_stack(s);
    ASSERT_FALSE(fns.empty());
    EXPECT_NE(fns[0].find("conv_table_insert"), std::string::npos) << nmt::joined(fns);
    EXPECT_TRUE(nmt::names_function(fns, "track_segment")) << nmt::joined(fns);
    EXPECT_EQ(s.r.FramesRead, 3067u);
}

TEST(Samples, ProtocolDistributionIsClean) {
    SampleRun s = run_sample("proto_dist", "sample-proto-dist");
    EXPECT_EQ(s.r.Outcome, DWORD(NM_OUTCOME_DONE)) << s.r.szDetail;
    EXPECT_EQ(s.r.Cleanup.Blocks, 0u);
    ASSERT_NE(s.rec, nullptr);
    EXPECT_TRUE(s.rec->cleanups.empty() || s.rec->cleanups[0].blocks == 0);
    EXPECT_EQ(s.rec->allocs, s.rec->frees);
    EXPECT_GT(s.rec->peak_bytes, 0u);
    EXPECT_THAT(s.rec->status.text, HasSubstr("TCP 2405"));
    EXPECT_THAT(s.rec->status.text, HasSubstr("ARP 40"));
    EXPECT_THAT(s.rec->status.text, HasSubstr("malformed 12"));
}

TEST(Samples, HostTableGrowsWithReallocAndIsClean) {
    SampleRun s = run_sample("host_table", "sample-host-table");
    EXPECT_EQ(s.r.Outcome, DWORD(NM_OUTCOME_DONE)) << s.r.szDetail;
    EXPECT_EQ(s.r.Cleanup.Blocks, 0u);
    ASSERT_NE(s.rec, nullptr);
    EXPECT_GE(s.rec->reallocs, 4u) << "4 -> 8 -> 16 -> 32 -> 64 entries";
    EXPECT_EQ(s.rec->allocs + s.rec->reallocs > 0, true);
    EXPECT_THAT(s.rec->status.text, HasSubstr("hosts (table grown"));
}

TEST(Samples, TcpFlagsCrashesOnTheMalformedHeaderAndIsReclaimed) {
    SampleRun s = run_sample("header_crash", "sample-tcp-flags");
    EXPECT_EQ(s.r.Outcome, DWORD(NM_OUTCOME_CRASHED)) << s.r.szDetail;
    EXPECT_EQ(s.r.Signal, SIGSEGV);
    EXPECT_EQ(s.r.FaultAddress, 0xdu) << "the flags byte of a NULL TCP header";
    EXPECT_EQ(s.r.Cleanup.Blocks, 1u);
    EXPECT_EQ(s.r.Cleanup.Bytes, (256u + 1024u + 1u) * 4u);
    ASSERT_NE(s.rec, nullptr);
    auto crash = nmt::stack_functions(s.snap, s.rec->crash_stack);
    ASSERT_FALSE(crash.empty());
    EXPECT_NE(crash[0].find("count_flags"), std::string::npos) << nmt::joined(crash);
    EXPECT_TRUE(nmt::names_function(top_cleanup_stack(s), "Run"));
}

TEST(Samples, HttpMethodsThrowsAndIsFailedWithTheMessage) {
    SampleRun s = run_sample("http_throw", "sample-http-methods");
    EXPECT_EQ(s.r.Outcome, DWORD(NM_OUTCOME_FAILED)) << s.r.szDetail;
    EXPECT_THAT(std::string(s.r.szDetail), HasSubstr("Run threw std::runtime_error: frame "));
    EXPECT_THAT(std::string(s.r.szDetail), HasSubstr("unknown HTTP method 'BREW'"));
    EXPECT_GE(s.r.Cleanup.Blocks, 2u) << "the method table and the request copies";
    ASSERT_NE(s.rec, nullptr);
    EXPECT_EQ(s.rec->outcome, nm::model::Outcome::Failed);
}

TEST(Samples, DnsLatencyHonoursTerminateAndLeavesNothing) {
    SampleRun s = run_sample("polite_slow", "sample-dns-latency", 300, 2000);
    // Terminated (not Timeout): it stopped after the request, within the grace period.
    EXPECT_EQ(s.r.Outcome, DWORD(NM_OUTCOME_TERMINATED)) << s.r.szDetail;
    EXPECT_EQ(s.r.Cleanup.Blocks, 0u);
    EXPECT_GE(s.r.ElapsedMs, 300u) << "not before the deadline";
    EXPECT_GT(s.r.FramesRead, 10u);
    EXPECT_LT(s.r.FramesRead, 3067u);
}

TEST(Samples, StubbornScanIgnoresTerminateAndIsInterrupted) {
    SampleRun s = run_sample("stubborn_slow", "sample-stubborn", 200, 200);
    EXPECT_EQ(s.r.Outcome, DWORD(NM_OUTCOME_TIMEOUT)) << s.r.szDetail;
    EXPECT_TRUE(s.r.KeyClosed) << s.r.szDetail;
    EXPECT_GT(s.r.Cleanup.Blocks, 0u);
    auto fns = top_cleanup_stack(s);
    ASSERT_FALSE(fns.empty());
    EXPECT_NE(fns[0].find("keep_digest_block"), std::string::npos) << nmt::joined(fns);
}

TEST(Samples, DemoRunsEverythingAndWritesReports) {
    nmt::TempDir dir;
    std::string cmd = std::string(NM_BUILD_DIR) + "/examples/nmleak-demo --report-dir " + dir.path() + " 2>&1";
    FILE *p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    int status = pclose(p);
    ASSERT_TRUE(WIFEXITED(status)) << out;
    EXPECT_EQ(WEXITSTATUS(status), 0) << out;
    for (const char *line : {"proto-dist     done", "tcp-conv       done", "host-table     done", "tcp-flags      crashed",
                             "http-methods   failed", "dns-latency    terminated", "stubborn-scan  timeout"})
        EXPECT_THAT(out, HasSubstr(line));
    EXPECT_THAT(out, HasSubstr("leaked 182 blocks, 7280 bytes, most from conv_table_insert"));
    EXPECT_TRUE(std::filesystem::exists(dir.file("nmleak-report.txt"))) << out;
    EXPECT_TRUE(std::filesystem::exists(dir.file("nmleak-report.json"))) << out;
}

} // namespace

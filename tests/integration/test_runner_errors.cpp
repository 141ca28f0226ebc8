// test_runner_errors.cpp - what the runner says about experts and captures it cannot use, and that
// the host goes on with the others.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "support/runner_fixture.hpp"

namespace {

using ::testing::HasSubstr;

std::string load_error(const std::string &path, DWORD *rc = nullptr) {
    NMEXPERT *expert = reinterpret_cast<NMEXPERT *>(0x1);
    char err[NM_RUNNER_TEXT_SZ] = {};
    DWORD code = NmLoadExpert(path.c_str(), &expert, err, sizeof err);
    EXPECT_EQ(expert, nullptr) << "no handle on failure";
    if (rc) *rc = code;
    return err;
}

TEST(RunnerErrors, MissingExpertFileNamesTheFile) {
    DWORD rc = 0;
    std::string e = load_error("/nonexistent/dir/expert.so", &rc);
    EXPECT_EQ(rc, DWORD(NMERR_LOAD_EXPERT_FAILED));
    EXPECT_THAT(e, HasSubstr("'/nonexistent/dir/expert.so'"));
    EXPECT_THAT(e, HasSubstr("No such file or directory"));
}

TEST(RunnerErrors, InvalidExpertFileGivesTheLoaderMessage) {
    nmt::TempDir dir;
    std::string path = dir.file("not-an-elf.so");
    nmt::write_file(path, std::string(4096, 'x'));
    DWORD rc = 0;
    std::string e = load_error(path, &rc);
    EXPECT_EQ(rc, DWORD(NMERR_LOAD_EXPERT_FAILED));
    EXPECT_THAT(e, HasSubstr("cannot load expert '" + path + "'"));
    EXPECT_THAT(e, HasSubstr("invalid ELF header"));
}

TEST(RunnerErrors, MissingRunEntryPoint) {
    DWORD rc = 0;
    std::string e = load_error(NMT_NO_RUN_EXPERT, &rc);
    EXPECT_EQ(rc, DWORD(NMERR_LOAD_EXPERT_FAILED));
    EXPECT_EQ(e, std::string("expert '") + NMT_NO_RUN_EXPERT + "' does not export the entry point 'Run'");
}

TEST(RunnerErrors, MissingRegisterEntryPoint) {
    DWORD rc = 0;
    std::string e = load_error(NMT_NO_REGISTER_EXPERT, &rc);
    EXPECT_EQ(rc, DWORD(NMERR_LOAD_EXPERT_FAILED));
    EXPECT_EQ(e, std::string("expert '") + NMT_NO_REGISTER_EXPERT + "' does not export the entry point 'Register'");
}

TEST(RunnerErrors, RegisterThatCrashesFailsTheLoadNotTheHost) {
    DWORD rc = 0;
    std::string e = load_error(NMT_REGISTER_CRASH_EXPERT, &rc);
    EXPECT_EQ(rc, DWORD(NMERR_LOAD_EXPERT_FAILED));
    EXPECT_THAT(e, HasSubstr(NMT_REGISTER_CRASH_EXPERT));
    EXPECT_THAT(e, HasSubstr("Register crashed with SIGSEGV"));
    // And the host thread that ran Register still works, crash protection and all.
    DWORD again = 0;
    EXPECT_THAT(load_error(NMT_REGISTER_CRASH_EXPERT, &again), HasSubstr("Register crashed with SIGSEGV"));
    EXPECT_EQ(again, DWORD(NMERR_LOAD_EXPERT_FAILED));
}

TEST(RunnerErrors, RegisteredInfoIsFilledIn) {
    NMEXPERT *expert = nullptr;
    char err[NM_RUNNER_TEXT_SZ];
    ASSERT_EQ(NmLoadExpert(NMT_PROBE_EXPERT, &expert, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    const EXPERTENUMINFO *info = NmExpertInfo(expert);
    ASSERT_NE(info, nullptr);
    EXPECT_STREQ(info->szName, "probe");
    EXPECT_STREQ(info->szVendor, "nmleak tests");
    EXPECT_STREQ(info->szDllName, NMT_PROBE_EXPERT);
    EXPECT_NE(info->hModule, nullptr);
    NmFreeExpert(expert);
}

DWORD start_error(const std::string &capture, std::string *message) {
    NMEXPERT *expert = nullptr;
    char err[NM_RUNNER_TEXT_SZ] = {};
    EXPECT_EQ(NmLoadExpert(NMT_PROBE_EXPERT, &expert, err, sizeof err), DWORD(NMERR_SUCCESS)) << err;
    NMRUNOPTIONS opts{};
    opts.szCaptureFile = capture.c_str();
    NMRUN *run = reinterpret_cast<NMRUN *>(0x1);
    DWORD rc = NmStartExpert(expert, &opts, &run, err, sizeof err);
    EXPECT_EQ(run, nullptr);
    *message = err;
    NmFreeExpert(expert);
    return rc;
}

TEST(RunnerErrors, MissingCaptureNamesTheFile) {
    std::string e;
    EXPECT_EQ(start_error("/nonexistent/capture.pcap", &e), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_THAT(e, HasSubstr("capture '/nonexistent/capture.pcap': No such file or directory"));
    EXPECT_THAT(e, HasSubstr("not run"));
}

TEST(RunnerErrors, CorruptCaptureNamesTheFile) {
    nmt::TempDir dir;
    std::string garbage = dir.file("garbage.pcap");
    nmt::write_file(garbage, std::string(200, '\x5a'));
    std::string e;
    EXPECT_EQ(start_error(garbage, &e), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_THAT(e, HasSubstr("capture '" + garbage + "': not a readable pcap/pcapng file"));

    std::string empty = dir.file("empty.pcap");
    nmt::write_file(empty, "");
    EXPECT_EQ(start_error(empty, &e), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_THAT(e, HasSubstr("capture '" + empty + "'"));

    EXPECT_EQ(start_error(dir.path(), &e), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_THAT(e, HasSubstr("not a regular file"));
}

TEST(RunnerErrors, TruncatedCaptureRecordNamesTheFileAndFrame) {
    nmt::TempDir dir;
    std::string bytes = nmt::pcap_bytes({{1, 0, std::string(60, 'a'), 60}, {1, 10, std::string(60, 'b'), 60}});
    bytes.resize(bytes.size() - 20); // the second record's data is cut short
    std::string path = dir.file("truncated.pcap");
    nmt::write_file(path, bytes);
    std::string e;
    EXPECT_EQ(start_error(path, &e), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_THAT(e, HasSubstr("capture '" + path + "': frame 1: truncated"));
}

TEST(RunnerErrors, RunExpertReportsLoadErrorsInTheResult) {
    NMRUNRESULT r{};
    EXPECT_EQ(NmRunExpert("/nonexistent/e.so", nullptr, &r), DWORD(NMERR_LOAD_EXPERT_FAILED));
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_FAILED));
    EXPECT_THAT(std::string(r.szDetail), HasSubstr("/nonexistent/e.so"));
    EXPECT_EQ(NmRunExpert(nullptr, nullptr, &r), DWORD(NMERR_INVALID_PARAMETER));
}

TEST(RunnerErrors, HostGoesOnWithTheOtherExperts) {
    nmt::TempDir dir;
    std::string bad_capture = dir.file("bad.pcap");
    nmt::write_file(bad_capture, "definitely not a capture");
    struct Item {
        std::string expert, behaviour, capture;
        DWORD want_rc, want_outcome;
    };
    const Item items[] = {
        {"/nonexistent/a.so", "", "", NMERR_LOAD_EXPERT_FAILED, NM_OUTCOME_FAILED},
        {NMT_PROBE_EXPERT, "leak:2", NMT_SAMPLE_CAPTURE, NMERR_SUCCESS, NM_OUTCOME_DONE},
        {NMT_NO_RUN_EXPERT, "", "", NMERR_LOAD_EXPERT_FAILED, NM_OUTCOME_FAILED},
        {NMT_PROBE_EXPERT, "clean", bad_capture, NMERR_INVALID_PARAMETER, NM_OUTCOME_FAILED},
        {NMT_PROBE_EXPERT, "segv", "", NMERR_SUCCESS, NM_OUTCOME_CRASHED},
        {NMT_PROBE_EXPERT, "clean", NMT_SAMPLE_CAPTURE, NMERR_SUCCESS, NM_OUTCOME_DONE},
    };
    int ran = 0;
    for (const Item &it : items) {
        nmt::RunSpec spec;
        spec.expert = it.expert;
        spec.behaviour = it.behaviour;
        spec.capture = it.capture;
        DWORD rc = 0;
        NMRUNRESULT r = nmt::run_expert(spec, &rc);
        EXPECT_EQ(rc, it.want_rc) << it.expert << ": " << r.szDetail;
        EXPECT_EQ(r.Outcome, it.want_outcome) << it.expert << ": " << r.szDetail;
        if (rc == NMERR_SUCCESS) ++ran;
        else EXPECT_GT(std::strlen(r.szDetail), 10u);
    }
    EXPECT_EQ(ran, 3);
}

TEST(RunnerErrors, BadArguments) {
    char err[NM_RUNNER_TEXT_SZ];
    EXPECT_EQ(NmLoadExpert(nullptr, nullptr, err, sizeof err), DWORD(NMERR_INVALID_PARAMETER));
    NMRUN *run = nullptr;
    EXPECT_EQ(NmStartExpert(nullptr, nullptr, &run, err, sizeof err), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_EQ(NmWaitExpert(nullptr, 0, nullptr), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_EQ(NmTerminateRun(nullptr), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_EQ(NmRunKey(nullptr), nullptr);
    EXPECT_EQ(NmExpertInfo(nullptr), nullptr);
    NmFreeRun(nullptr);
    NmFreeExpert(nullptr);
    // Capture paths that do not fit EXPERTSTARTUPINFO.szCaptureFile are refused, not truncated.
    NMEXPERT *expert = nullptr;
    ASSERT_EQ(NmLoadExpert(NMT_PROBE_EXPERT, &expert, err, sizeof err), DWORD(NMERR_SUCCESS));
    std::string long_path = "/tmp/" + std::string(300, 'p') + ".pcap";
    NMRUNOPTIONS opts{};
    opts.szCaptureFile = long_path.c_str();
    EXPECT_EQ(NmStartExpert(expert, &opts, &run, err, sizeof err), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_THAT(std::string(err), HasSubstr("longer than MAX_PATH"));
    NmFreeExpert(expert);
}

} // namespace

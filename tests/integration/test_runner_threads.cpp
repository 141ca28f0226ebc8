// test_runner_threads.cpp - the threads an expert starts are guarded like its Run thread, and an
// expert that calls exit() ends its run, not the host.
#include "support/runner_fixture.hpp"

#include <nmleak/report.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string read_text(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A thread the expert started crashes after Run returned: the thread is stopped, the host (this
// test process) goes on, and the run's own record is unchanged.
TEST(ExpertThreads, ACrashAfterTheRunEndedStopsOnlyThatThread) {
    NMEXPERT *expert = nullptr;
    char error[NM_RUNNER_TEXT_SZ] = "";
    ASSERT_EQ(NmLoadExpert(NMT_PROBE_EXPERT, &expert, error, sizeof error), NMERR_SUCCESS) << error;
    nmt::ProbeConfig config("thread_crash_after");
    NMRUNOPTIONS opts{};
    opts.pConfig = config.get();
    opts.szKeyName = "thread-crash-after";
    NMRUN *run = nullptr;
    ASSERT_EQ(NmStartExpert(expert, &opts, &run, error, sizeof error), NMERR_SUCCESS) << error;
    NMRUNRESULT r{};
    ASSERT_EQ(NmWaitExpert(run, NM_WAIT_INFINITE, &r), NMERR_SUCCESS);
    NmFreeRun(run);
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_DONE)) << r.szDetail;

    // The expert is still loaded: let its thread crash now, and wait for that thread to end.
    void *probe = dlopen(NMT_PROBE_EXPERT, RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(probe, nullptr);
    auto *thread = static_cast<pthread_t *>(dlsym(probe, "probe_thread"));
    auto *go = static_cast<std::atomic<int> *>(dlsym(probe, "probe_thread_go"));
    ASSERT_TRUE(thread && go);
    ::testing::internal::CaptureStderr();
    go->store(1);
    void *value = reinterpret_cast<void *>(7);
    ASSERT_EQ(pthread_join(*thread, &value), 0);
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(value, nullptr) << "the thread returned instead of crashing";
    EXPECT_THAT(err, HasSubstr("of the expert crashed: SIGSEGV"));
    EXPECT_THAT(err, HasSubstr("after the run of 'thread-crash-after' ended"));
    dlclose(probe);
    NmFreeExpert(expert);

    // The process is whole: another run works.
    NMRUNRESULT again = nmt::run_expert({.behaviour = "leak:3", .key_name = "after-thread-crash"});
    EXPECT_EQ(again.Outcome, DWORD(NM_OUTCOME_DONE));
    EXPECT_EQ(again.Cleanup.Blocks, 3u);
}

// A thread of the expert crashes while Run is still running: the run ends as crashed, with that
// thread's crash as its detail and stack; its memory is reclaimed.
TEST(ExpertThreads, ACrashDuringTheRunIsTheRunsCrash) {
    NMRUNRESULT r = nmt::run_expert({.behaviour = "thread_crash", .key_name = "thread-crash", .grace_ms = 5000});
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_CRASHED)) << r.szDetail;
    EXPECT_EQ(r.Signal, SIGSEGV);
    EXPECT_EQ(r.FaultAddress, 0x10u);
    EXPECT_THAT(std::string(r.szDetail), HasSubstr("of the expert crashed: SIGSEGV"));
    EXPECT_EQ(r.Cleanup.Blocks, 4u) << "the blocks Run held were reclaimed";
    nm::model::Snapshot snap = nm::capture_snapshot(true);
    const nm::model::Expert *e = nmt::find_expert(snap, "thread-crash");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->outcome, nm::model::Outcome::Crashed);
    EXPECT_EQ(e->crash_signal, SIGSEGV);
    const auto functions = nmt::stack_functions(snap, e->crash_stack);
    EXPECT_TRUE(nmt::names_function(functions, "probe_crash_segv")) << nmt::joined(functions);
}

// exit() from a thread of the expert while Run runs: the run fails, the process goes on.
TEST(ExpertThreads, ExitOnAThreadOfTheExpertFailsTheRun) {
    NMRUNRESULT r = nmt::run_expert({.behaviour = "thread_exit:5", .key_name = "thread-exit", .grace_ms = 5000});
    EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_FAILED)) << r.szDetail;
    EXPECT_THAT(std::string(r.szDetail), HasSubstr("called exit(5)"));
    EXPECT_EQ(r.Cleanup.Blocks, 4u);
}

// exit() and _exit() from Run: the run fails with that reason, the host keeps running.
TEST(ExpertThreads, ExitFromRunEndsTheRunNotTheHost) {
    for (const char *how : {"exit:3", "_exit:4"}) {
        NMRUNRESULT r = nmt::run_expert({.behaviour = how, .key_name = std::string("run-") + how});
        EXPECT_EQ(r.Outcome, DWORD(NM_OUTCOME_FAILED)) << how << ": " << r.szDetail;
        EXPECT_THAT(std::string(r.szDetail), HasSubstr(std::string("Run called exit(") + (how[0] == 'e' ? "3" : "4") + ")"));
        EXPECT_EQ(r.Cleanup.Blocks, 4u) << how;
    }
}

// A process the expert forks is its own: exit() in the child ends the child, with that status.
TEST(ExpertThreads, ExitInAForkedChildOfTheHostStillExits) {
    const pid_t pid = fork();
    if (pid == 0) std::exit(9);
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 9);
}

// A real host: nmleak-demo runs an expert that calls exit(). The demo still prints its table,
// writes its reports, and the at-exit report (NMLEAK_REPORT) is written too.
TEST(ExpertThreads, TheDemoHostOutlivesAnExpertThatCallsExit) {
    nmt::TempDir dir;
    const std::string demo = std::string(NM_BUILD_DIR) + "/examples/nmleak-demo";
    ASSERT_TRUE(fs::exists(demo)) << demo;
    const std::string out = dir.file("stdout"), err = dir.file("stderr"), at_exit = dir.file("at-exit.json");
    const pid_t pid = fork();
    if (pid == 0) {
        int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(o, 1);
        ::dup2(e, 2);
        ::setenv("NMT_PROBE_BEHAVIOUR", "exit:3", 1);
        ::setenv("NMLEAK_REPORT", at_exit.c_str(), 1);
        ::execl(demo.c_str(), demo.c_str(), "--expert", NMT_PROBE_EXPERT, "--report-dir", dir.path().c_str(),
                static_cast<char *>(nullptr));
        _exit(127);
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    const std::string text = read_text(out);
    ASSERT_TRUE(WIFEXITED(st)) << read_text(err);
    EXPECT_EQ(WEXITSTATUS(st), 0) << "the demo's own status, not the expert's exit(3)\n" << text << read_text(err);
    EXPECT_THAT(text, HasSubstr("probe"));
    EXPECT_THAT(text, HasSubstr("failed"));
    EXPECT_THAT(text, HasSubstr("Run called exit(3)"));
    EXPECT_TRUE(fs::exists(dir.file("nmleak-report.txt"))) << text;
    ASSERT_TRUE(fs::exists(at_exit)) << read_text(err);
    const nlohmann::json j = nlohmann::json::parse(read_text(at_exit));
    bool found = false;
    for (const auto &e : j["experts"])
        if (e["name"] == "probe") found = e["outcome"] == "failed" && e.dump().find("exit(3)") != std::string::npos;
    EXPECT_TRUE(found) << j.dump(1);
}

// The demo's table and notes print expert names, status texts and details: escaped.
TEST(ExpertThreads, TheDemoTableEscapesExpertStrings) {
    nmt::TempDir dir;
    const std::string demo = std::string(NM_BUILD_DIR) + "/examples/nmleak-demo";
    const std::string out = dir.file("stdout");
    const pid_t pid = fork();
    if (pid == 0) {
        int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(o, 1);
        ::setenv("NMT_PROBE_BEHAVIOUR", "hostile_status", 1);
        ::setenv("NMT_PROBE_NAME", "probe\x1b[31m\x07", 1);
        ::execl(demo.c_str(), demo.c_str(), "--expert", NMT_PROBE_EXPERT, "--report-dir", dir.path().c_str(),
                static_cast<char *>(nullptr));
        _exit(127);
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    const std::string text = read_text(out);
    for (size_t i = 0; i < text.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        ASSERT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << "raw byte " << int(c) << " at " << i << ":\n" << text;
    }
    EXPECT_THAT(text, HasSubstr("probe\\x1b[31m\\x07"));
    EXPECT_THAT(text, HasSubstr("status: \\x1b]0;owned\\x07\\r\\x1b[2Kstatus"));
    EXPECT_THAT(text, HasSubstr("\\x1b[2J\\x9bcleared"));
}

} // namespace

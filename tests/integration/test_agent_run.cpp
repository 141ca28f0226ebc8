// test_agent_run.cpp - `nmleak run`: the agent answers while PROG runs, the report is written at
// exit, the exit status is PROG's (or 23 for leaks), and PROG's children do not inherit the agent.
#include <nmleak/protocol.hpp>

#include "agent_support/harness.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

using nmt::Process;

class Run : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nmt-run-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path dir_;
};

TEST_F(Run, AgentAnswersWhileRunningAndTheReportIsWrittenAtExit) {
    const fs::path report = dir_ / "leaks.json";
    Process p;
    ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "--report", report.string(), "--", NMT_AGENT_TARGET, "--worker"}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0) << p.stderr_text();
    EXPECT_NE(pid, p.pid()) << "PROG runs as a child of nmleak";

    // Reachable at once, with the whole state.
    nm::proto::Client c;
    nm::proto::ConnectOptions o;
    std::string error;
    ASSERT_TRUE(c.connect(pid, o, &error)) << error;
    EXPECT_EQ(c.hello().pid, pid);
    EXPECT_NE(c.hello().command.find("agent_target --worker"), std::string::npos);
    nm::model::Snapshot snap;
    nm::proto::Message m;
    ASSERT_EQ(c.read(&m, 10000, &error), nm::proto::ReadStatus::Message) << error;
    ASSERT_EQ(m.type, nm::proto::MessageType::Snapshot);
    ASSERT_NE(nmt::expert(m.snapshot, "alpha"), nullptr);
    // Its 5 API blocks; the main thread works for alpha since its first ExpertAllocMemory with it,
    // so the heap blocks its own code makes there (the vector holding the pointers) are alpha's too.
    size_t api_blocks = 0, heap_blocks = 0;
    for (const nm::model::Block &b : nmt::expert(m.snapshot, "alpha")->blocks)
        (b.origin == nm::model::BlockOrigin::Api ? api_blocks : heap_blocks)++;
    EXPECT_EQ(api_blocks, 5u);
    EXPECT_GE(heap_blocks, 1u);
    // Updates keep coming: the worker opens and closes keys all the time.
    ASSERT_EQ(c.read(&m, 5000, &error), nm::proto::ReadStatus::Message) << error;
    EXPECT_EQ(m.type, nm::proto::MessageType::Update);
    EXPECT_FALSE(m.snapshot.experts.empty());
    // Options: a faster update interval, deeper stacks; out-of-range values are refused.
    nm::proto::Options opt;
    opt.mask = nm::proto::kOptUpdateInterval | nm::proto::kOptStackDepth;
    opt.update_interval_ms = 50;
    opt.stack_depth = 8;
    nm::proto::Reply reply;
    ASSERT_TRUE(c.wait_reply(c.send_options(opt, &error), &reply, 5000, &error)) << error;
    EXPECT_EQ(reply.status, nm::proto::ReplyStatus::Ok);
    opt.stack_depth = 65;
    ASSERT_TRUE(c.wait_reply(c.send_options(opt, &error), &reply, 5000, &error)) << error;
    EXPECT_EQ(reply.status, nm::proto::ReplyStatus::InvalidArgument);
    {
        nm::model::Snapshot s;
        ASSERT_TRUE(c.request_snapshot(false, &s, 10000, &error)) << error;
        EXPECT_EQ(s.process.stack_depth, 8u);
        EXPECT_TRUE(nmt::expert(s, "alpha")->blocks.empty()) << "asked without blocks";
    }
    c.close();

    // The agent removed itself from LD_PRELOAD: a child of PROG runs without it.
    ASSERT_TRUE(p.send("child"));
    std::string line;
    ASSERT_TRUE(p.wait_line("child ", &line));
    // (In a sanitizer build nmleak put the ASan/TSan runtime in front: that one may stay.)
    EXPECT_EQ(line.find("libnmleak-agent"), std::string::npos) << line;

    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 0) << p.stderr_text();
    ASSERT_TRUE(fs::exists(report)) << p.stderr_text();
    std::ifstream in(report);
    const nlohmann::json j = nlohmann::json::parse(in);
    bool found = false;
    for (const auto &e : j["experts"])
        if (e["name"] == "alpha") found = e.dump().find("nmt_alloc_known_blocks") != std::string::npos;
    EXPECT_TRUE(found) << "alpha's leak stack is not in the report";
    // The agent's socket is gone with the process.
    EXPECT_NE(nmt::nmleak({"snapshot", std::to_string(pid), "-o", (dir_ / "x").string()}).status, 0);
}

TEST_F(Run, ExitStatusIsPrograms) {
    Process p;
    ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--", NMT_AGENT_TARGET}));
    ASSERT_GT(p.wait_ready(), 0);
    ASSERT_TRUE(p.send("exit 7"));
    EXPECT_EQ(p.wait_exit(), 7);

    const nmt::Result missing = nmt::nmleak({"run", "-q", "--", "/nonexistent/prog"});
    EXPECT_EQ(missing.status, 127);
    EXPECT_NE(missing.err.find("cannot run /nonexistent/prog"), std::string::npos) << missing.err;
}

TEST_F(Run, FailOnLeakExits23) {
    Process p;
    ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--fail-on-leak", "--report", (dir_ / "r.txt").string(), "--",
                         NMT_AGENT_TARGET}));
    ASSERT_GT(p.wait_ready(), 0);
    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 23) << p.stderr_text();
    EXPECT_TRUE(fs::exists(dir_ / "r.txt"));
}

TEST_F(Run, FollowChildrenKeepsThePreload) {
    Process p;
    ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--follow-children", "--", NMT_AGENT_TARGET}));
    ASSERT_GT(p.wait_ready(), 0);
    ASSERT_TRUE(p.send("child"));
    std::string line;
    ASSERT_TRUE(p.wait_line("child ", &line));
    EXPECT_NE(line.find("libnmleak-agent.so"), std::string::npos) << line;
    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 0);
}

TEST_F(Run, DetachThenAttachAgainInARunProcess) {
    if (const std::string why = nmt::attach_unavailable(); !why.empty()) GTEST_SKIP() << why;
    Process p;
    ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--", NMT_AGENT_TARGET, "--worker"}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(nmt::nmleak({"detach", std::to_string(pid)}).status, 0);
    const nmt::Result again = nmt::nmleak({"attach", std::to_string(pid)});
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_NE(again.out.find("library was loaded already"), std::string::npos) << again.out;
    const nmt::Result snap = nmt::nmleak({"snapshot", std::to_string(pid), "-o", (dir_ / "s.nmsnap").string()});
    EXPECT_EQ(snap.status, 0) << snap.err;
    EXPECT_NE(p.ask("status", "status").find("errors=0"), std::string::npos);
    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 0);
}

} // namespace

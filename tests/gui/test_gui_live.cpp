// test_gui_live.cpp - nmleak-gui against live targets: the session follows a running process (snapshot
// plus updates), terminates a key, survives the target's death; the window connects, attaches
// (injects the agent) and renders; a target that dies while attached leaves a clear message.
#include "format.hpp"
#include "session.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

extern char **environ;

namespace nm::gui {
namespace {

namespace fs = std::filesystem;

// A target program: make_gui_snapshot --live, optionally under `nmleak run` (agent preloaded).
class Target {
public:
    Target(double seconds, bool with_agent) {
        std::vector<std::string> args;
        if (with_agent) args = {NMGUI_NMLEAK, "run", "-q", "--"};
        args.insert(args.end(), {NMGUI_MAKE_SNAPSHOT, "-", "--live", std::to_string(seconds)});
        std::vector<char *> argv;
        for (std::string &a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int out[2];
        if (pipe2(out, O_CLOEXEC) != 0) return;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        if (posix_spawn(&spawned_, argv[0], &fa, nullptr, argv.data(), environ) != 0) spawned_ = -1;
        posix_spawn_file_actions_destroy(&fa);
        close(out[1]);
        // "ready PID": the target's own pid (under nmleak run it is nmleak's child).
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (spawned_ > 0 && std::chrono::steady_clock::now() < deadline && line.find('\n') == std::string::npos) {
            pollfd p{out[0], POLLIN, 0};
            if (poll(&p, 1, 200) <= 0) continue;
            char buf[128];
            const ssize_t n = read(out[0], buf, sizeof buf);
            if (n <= 0) break;
            line.append(buf, size_t(n));
        }
        close(out[0]);
        if (line.rfind("ready ", 0) == 0) pid_ = std::atoi(line.c_str() + 6);
    }
    ~Target() {
        if (spawned_ > 0) {
            kill(spawned_, SIGTERM);
            waitpid(spawned_, nullptr, 0);
        }
    }
    int pid() const { return pid_; }
    // Waits for the target to end on its own.
    void wait() {
        if (spawned_ > 0) waitpid(spawned_, nullptr, 0);
        spawned_ = -1;
    }

private:
    pid_t spawned_ = -1;
    int pid_ = 0;
};

struct RunResult {
    int exit_code = -1;
    std::string output;
};

RunResult run(const std::string &cmd) {
    RunResult r;
    FILE *p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return r;
    std::array<char, 512> buf{};
    while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

template <typename Pred>
bool eventually(Pred pred, int timeout_ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
}

const model::Expert *open_key(const model::Snapshot &s, const std::string &name) {
    for (const auto &e : s.experts)
        if (e.name == name && e.state == model::ExpertState::Running) return &e;
    return nullptr;
}

TEST(GuiLiveSession, FollowsSnapshotAndUpdates) {
    Target t(20, true);
    ASSERT_GT(t.pid(), 0) << "the target did not start";
    Session session;
    session.connect(t.pid());
    ASSERT_TRUE(eventually([&] { return session.current()->generation >= 3; }, 15000)) << session.status().message;
    EXPECT_TRUE(session.status().live);
    auto m = session.current();
    EXPECT_EQ(m->source.kind, SourceKind::Live);
    EXPECT_EQ(m->snap->process.pid, t.pid());
    // The table's figures follow the updates: http_parser keeps allocating.
    const model::Expert *http = open_key(*m->snap, "http_parser");
    ASSERT_NE(http, nullptr);
    const uint64_t id = http->id, allocs = http->allocs;
    ASSERT_TRUE(eventually([&] {
        auto cur = session.current();
        const model::Expert *e = open_key(*cur->snap, "http_parser");
        return e && e->id == id && e->allocs > allocs;
    }, 10000));
    // The timeline has one exact sample per model built.
    EXPECT_GE(session.current()->timeline.samples, 3u);
    // Keys close and reopen: cleanups reach the log, with their stacks.
    ASSERT_TRUE(eventually([&] { return !session.current()->agg.cleanups.empty(); }, 10000));
    {
        auto cur = session.current();
        const CleanupRef &c = cur->agg.cleanups.front();
        EXPECT_FALSE(cur->snap->experts[c.expert].cleanups[c.cleanup].stacks.empty());
        EXPECT_FALSE(cur->timeline.markers.empty());
    }

    // Terminate a key by id: the agent confirms, the key shows terminate requested.
    uint64_t steady_id = 0;
    {
        auto cur = session.current(); // keeps the snapshot alive while we look at it
        const model::Expert *steady = open_key(*cur->snap, "proto_dist");
        ASSERT_NE(steady, nullptr);
        steady_id = steady->id;
    }
    session.request_terminate(steady_id, "proto_dist");
    ASSERT_TRUE(eventually([&] { return session.status().message.find("proto_dist") != std::string::npos; }, 10000));
    EXPECT_EQ(session.status().level, Level::Ok) << session.status().message;
    EXPECT_TRUE(eventually([&] {
        auto cur = session.current();
        for (const auto &e : cur->snap->experts)
            if (e.id == steady_id) return e.state == model::ExpertState::TerminateRequested;
        return false;
    }, 10000));

    // The target goes away: the session says so and keeps the last data.
    const uint64_t gen = session.current()->generation;
    const int pid = t.pid();
    kill(pid, SIGKILL);
    ASSERT_TRUE(eventually([&] { return !session.status().live; }, 10000));
    const StatusLine st = session.status();
    EXPECT_EQ(st.level, Level::Error);
    EXPECT_NE(st.message.find(std::to_string(pid)), std::string::npos) << st.message;
    EXPECT_GE(session.current()->generation, gen);
    EXPECT_FALSE(session.current()->snap->experts.empty());
}

TEST(GuiLiveSession, AKilledTargetShowsItsKeysEndedAndOneTotal) {
    Target t(30, true);
    ASSERT_GT(t.pid(), 0) << "the target did not start";
    Session session;
    session.connect(t.pid());
    // A few updates in: per-key figures have moved on since the full snapshot's block lists.
    ASSERT_TRUE(eventually([&] { return session.current()->generation >= 3; }, 15000)) << session.status().message;
    kill(t.pid(), SIGKILL);
    ASSERT_TRUE(eventually([&] { return !session.status().live && session.current()->source.ended; }, 15000))
        << session.status().message;
    EXPECT_NE(session.status().message.find("exited"), std::string::npos) << session.status().message;
    auto m = session.current();
    uint64_t figures = 0, listed = 0;
    int open = 0;
    for (const model::Expert &e : m->snap->experts) {
        figures += e.live_blocks;
        listed += e.blocks.size();
        if (e.state == model::ExpertState::Closed) continue;
        ++open;
        EXPECT_EQ(fmt::state_text(e, m->source.ended), "unknown (process ended)") << e.name;
    }
    EXPECT_GT(open, 0);
    // One total: the experts table's sum is the number of blocks the block views list.
    EXPECT_EQ(figures, listed);
    EXPECT_EQ(m->agg.blocks.size(), listed);
}

TEST(GuiLiveSession, ConnectingToAProcessWithoutAgentTalksOfNoPtrace) {
    Session session;
    session.connect(1); // init: not an analyzer
    ASSERT_TRUE(session.wait_idle(10000));
    const StatusLine st = session.status();
    EXPECT_EQ(st.level, Level::Error);
    EXPECT_NE(st.message.find("pid 1"), std::string::npos) << st.message;
    EXPECT_EQ(st.message.find("ptrace"), std::string::npos) << st.message;
}

TEST(GuiLiveSession, RefusedConnectionsSayWhy) {
    Session session;
    session.connect(999999); // no such process
    ASSERT_TRUE(session.wait_idle(10000));
    StatusLine st = session.status();
    EXPECT_EQ(st.level, Level::Error);
    EXPECT_NE(st.message.find("999999"), std::string::npos) << st.message;
    EXPECT_FALSE(st.live);

    Target plain(10, false); // uses libnmapi, no agent
    ASSERT_GT(plain.pid(), 0);
    session.connect(plain.pid());
    ASSERT_TRUE(session.wait_idle(10000));
    st = session.status();
    EXPECT_EQ(st.level, Level::Error);
    EXPECT_NE(st.message.find("agent"), std::string::npos) << st.message; // says what is missing
}

class GuiLiveWindow : public ::testing::Test {
protected:
    void SetUp() override {
        const char *d = std::getenv("DISPLAY");
        if (!d || !*d) GTEST_SKIP() << "no DISPLAY: run the GUI tests under xvfb-run -a";
        png_ = (fs::temp_directory_path() / ("nmgui-live-" + std::to_string(getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".png"))
                   .string();
    }
    void TearDown() override { fs::remove(png_); }
    std::string png_;
};

TEST_F(GuiLiveWindow, ConnectsToARunningTargetAndRenders) {
    Target t(20, true);
    ASSERT_GT(t.pid(), 0);
    const RunResult r = run(std::string(NMGUI_BIN) + " --connect " + std::to_string(t.pid()) + " --view timeline --hold 1.5 --screenshot " + png_);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_GT(fs::file_size(png_), 20000u);
}

TEST_F(GuiLiveWindow, AttachInjectsTheAgent) {
    Target t(20, false);
    ASSERT_GT(t.pid(), 0);
    const RunResult r = run(std::string(NMGUI_BIN) + " --attach " + std::to_string(t.pid()) + " --view experts --screenshot " + png_);
    if (r.exit_code != 0 && (r.output.find("ptrace") != std::string::npos || r.output.find("permitted") != std::string::npos))
        GTEST_SKIP() << "ptrace is not allowed here: " << r.output;
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_GT(fs::file_size(png_), 20000u);
}

TEST_F(GuiLiveWindow, ATargetThatDiesLeavesTheGuiRunningWithAMessage) {
    Target t(1.5, true); // exits on its own while the GUI watches
    ASSERT_GT(t.pid(), 0);
    const RunResult r = run(std::string(NMGUI_BIN) + " --connect " + std::to_string(t.pid()) + " --view experts --hold 4 --screenshot " + png_);
    EXPECT_EQ(r.exit_code, 0) << r.output; // still running, rendered to the end
    EXPECT_NE(r.output.find("exited"), std::string::npos) << r.output;
    EXPECT_GT(fs::file_size(png_), 20000u);
}

} // namespace
} // namespace nm::gui

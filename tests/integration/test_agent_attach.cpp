// test_agent_attach.cpp - `nmleak attach/detach/snapshot/ps` on real processes with real ptrace:
// the attached snapshot holds the history, an interrupted read() completes, 100 cycles are harmless.
#include <nmleak/protocol.hpp>
#include <nmleak/snapshot_io.hpp>

#include "agent_support/harness.hpp"

#include <gtest/gtest.h>

#include <sys/ptrace.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace {

using nmt::Process;

class Attach : public ::testing::Test {
protected:
    void SetUp() override {
        if (const std::string why = nmt::attach_unavailable(); !why.empty()) GTEST_SKIP() << why;
        ASSERT_EQ(::access(NMT_AGENT_TARGET, X_OK), 0) << NMT_AGENT_TARGET << " was not built";
        ASSERT_EQ(::access(NMT_NMLEAK, X_OK), 0) << NMT_NMLEAK << " was not built";
    }

    // Starts agent_target without any agent and waits for "ready".
    pid_t start_target(Process &p, std::vector<std::string> args = {}) {
        args.insert(args.begin(), NMT_AGENT_TARGET);
        if (!p.start(args)) return 0;
        return p.wait_ready(&worker_);
    }

    static nm::model::Snapshot snapshot_of(pid_t pid, bool blocks = true) {
        nm::proto::Client c;
        nm::proto::ConnectOptions o;
        o.hello_flags = blocks ? nm::proto::kHelloBlocks : 0;
        std::string error;
        nm::model::Snapshot s;
        EXPECT_TRUE(c.connect(pid, o, &error)) << error;
        nm::proto::Message m;
        EXPECT_EQ(c.read(&m, 20000, &error), nm::proto::ReadStatus::Message) << error;
        EXPECT_EQ(m.type, nm::proto::MessageType::Snapshot);
        return std::move(m.snapshot);
    }

    pid_t worker_ = 0;
};

TEST_F(Attach, SnapshotAfterAttachHoldsEarlierBlocksWithStacks) {
    Process p;
    const pid_t pid = start_target(p);
    ASSERT_GT(pid, 0);
    const nmt::Result r = nmt::nmleak({"attach", std::to_string(pid)});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("attached to " + std::to_string(pid)), std::string::npos) << r.out;

    const nm::model::Snapshot s = snapshot_of(pid);
    EXPECT_EQ(s.process.pid, pid);
    const nm::model::Expert *alpha = nmt::expert(s, "alpha");
    ASSERT_NE(alpha, nullptr);
    ASSERT_EQ(alpha->blocks.size(), 5u);
    std::set<uint64_t> sizes;
    for (const auto &b : alpha->blocks) {
        sizes.insert(b.size);
        EXPECT_TRUE(nmt::stack_has(s, b.stack, "nmt_alloc_known_blocks")) << "block of " << b.size;
    }
    EXPECT_EQ(sizes, (std::set<uint64_t>{1001, 1002, 1003, 1004, 1005}));
    const nm::model::Expert *beta = nmt::expert(s, "beta");
    ASSERT_NE(beta, nullptr);
    ASSERT_EQ(beta->blocks.size(), 3u);
    EXPECT_TRUE(nmt::stack_has(s, beta->blocks[0].stack, "nmt_alloc_beta_blocks"));
    EXPECT_EQ(p.ask("status", "status"), "status iterations=0 errors=0 beta=0");
}

TEST_F(Attach, ReadBlockedDuringAttachStillReturnsTheRightBytes) {
    Process p;
    const pid_t pid = start_target(p);
    ASSERT_GT(pid, 0);
    // The target's only thread sits in read(2) on its stdin pipe: that is the thread attach borrows.
    std::string sys;
    for (int i = 0; i < 200 && sys.rfind("0 ", 0) != 0; ++i) {
        std::ifstream f("/proc/" + std::to_string(pid) + "/syscall");
        std::getline(f, sys);
        nmt::sleep_ms(5);
    }
    ASSERT_EQ(sys.rfind("0 ", 0), 0u) << "not blocked in read(2): " << sys;
    const nmt::Result r = nmt::nmleak({"attach", std::to_string(pid)});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("read(2)"), std::string::npos) << r.out;
    // The interrupted read() was restarted by the kernel: it returns exactly these bytes, no EINTR.
    EXPECT_EQ(p.ask("echo after-attach 1234567890", "echo"), "echo after-attach 1234567890");
    EXPECT_EQ(p.stdout_seen().find("EINTR"), std::string::npos);
    ASSERT_EQ(nmt::nmleak({"detach", std::to_string(pid)}).status, 0);
    EXPECT_EQ(p.ask("echo after-detach", "echo"), "echo after-detach");
    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 0);
}

TEST_F(Attach, HundredAttachDetachCyclesLeaveTheTargetRight) {
    Process p;
    const pid_t pid = start_target(p, {"--worker"});
    ASSERT_GT(pid, 0);
    const int fds_before = nmt::open_fd_count(pid);
    uint64_t last_iterations = 0;
    for (int cycle = 1; cycle <= 100; ++cycle) {
        const nmt::Result a = nmt::nmleak({"attach", "-q", std::to_string(pid)});
        ASSERT_EQ(a.status, 0) << "cycle " << cycle << ": " << a.err;
        const nmt::Result d = nmt::nmleak({"detach", "-q", std::to_string(pid)});
        ASSERT_EQ(d.status, 0) << "cycle " << cycle << ": " << d.err;
        if (cycle % 10 == 0) {
            // The worker checks its own results (pattern sums, sizes, cleanups) every round.
            const std::string st = p.ask("status", "status");
            ASSERT_NE(st.find("errors=0"), std::string::npos) << "cycle " << cycle << ": " << st;
            const uint64_t it = std::stoull(st.substr(st.find("iterations=") + 11));
            EXPECT_GT(it, last_iterations) << "the worker stopped progressing";
            last_iterations = it;
        }
    }
    ASSERT_TRUE(p.alive());
    const std::vector<std::string> names = nmt::thread_names(pid);
    EXPECT_EQ(std::count(names.begin(), names.end(), "nmleak-agent"), 0) << "an agent thread outlived detach";
    EXPECT_LE(nmt::open_fd_count(pid), fds_before) << "descriptors leaked across cycles";
    // The library was loaded once and then reused.
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    int agent_maps = 0;
    while (std::getline(maps, line)) agent_maps += line.find("libnmleak-agent.so") != std::string::npos;
    EXPECT_GT(agent_maps, 0);
    EXPECT_LE(agent_maps, 6);
    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 0);
}

TEST_F(Attach, BorrowingABusyThreadInUserCodeWorks) {
    Process p;
    const pid_t pid = start_target(p, {"--worker"});
    ASSERT_GT(pid, 0);
    for (int i = 0; i < 5; ++i) {
        const nmt::Result a = nmt::nmleak({"attach", "--thread", std::to_string(worker_), std::to_string(pid)});
        ASSERT_EQ(a.status, 0) << a.err;
        EXPECT_NE(a.out.find("thread " + std::to_string(worker_)), std::string::npos) << a.out;
        ASSERT_EQ(nmt::nmleak({"detach", "-q", std::to_string(pid)}).status, 0);
    }
    const std::string st = p.ask("status", "status");
    EXPECT_NE(st.find("errors=0"), std::string::npos) << st;
}

TEST_F(Attach, SecondAttachSaysAlreadyRunning) {
    Process p;
    const pid_t pid = start_target(p);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(nmt::nmleak({"attach", std::to_string(pid)}).status, 0);
    const nmt::Result again = nmt::nmleak({"attach", std::to_string(pid)});
    EXPECT_EQ(again.status, 0);
    EXPECT_NE(again.out.find("already has an agent"), std::string::npos) << again.out;
}

TEST_F(Attach, ClearErrors) {
    const nmt::Result none = nmt::nmleak({"attach", "999999"});
    EXPECT_EQ(none.status, 1);
    EXPECT_NE(none.err.find("no such process"), std::string::npos) << none.err;

    Process sleeper;
    ASSERT_TRUE(sleeper.start({"/bin/sleep", "30"}));
    nmt::sleep_ms(100);
    // --no-heap: only the agent, which needs libnmapi (without it, attach observes any heap).
    const nmt::Result plain = nmt::nmleak({"attach", "--no-heap", std::to_string(sleeper.pid())});
    EXPECT_EQ(plain.status, 1);
    EXPECT_NE(plain.err.find("not an nmleak process"), std::string::npos) << plain.err;

    Process p;
    const pid_t pid = start_target(p);
    ASSERT_GT(pid, 0);
    const nmt::Result snap = nmt::nmleak({"snapshot", std::to_string(pid), "-o", "/tmp/nmt-never.nmsnap"});
    EXPECT_EQ(snap.status, 1);
    EXPECT_NE(snap.err.find("nmleak attach " + std::to_string(pid)), std::string::npos) << snap.err;
    const nmt::Result det = nmt::nmleak({"detach", std::to_string(pid)});
    EXPECT_EQ(det.status, 1);
    EXPECT_NE(det.err.find("has no agent"), std::string::npos) << det.err;
    // Another user may not ptrace root's process.
    if (!nmt::other_user_unavailable().empty()) return;
    const nmt::Result other = nmt::run(nmt::nmleak_as_nobody({"attach", std::to_string(pid)}));
    EXPECT_EQ(other.status, 1);
    EXPECT_NE(other.err.find("permission denied"), std::string::npos) << other.err;
}

TEST_F(Attach, AZombieIsCalledAZombie) {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    ASSERT_GT(child, 0);
    char state = '?';
    for (int i = 0; i < 1000 && state != 'Z'; ++i) {
        std::ifstream f("/proc/" + std::to_string(child) + "/stat");
        std::string stat;
        std::getline(f, stat);
        const size_t paren = stat.rfind(')');
        if (paren != std::string::npos && paren + 2 < stat.size()) state = stat[paren + 2];
        if (state != 'Z') nmt::sleep_ms(2);
    }
    ASSERT_EQ(state, 'Z');
    const nmt::Result a = nmt::nmleak({"attach", std::to_string(child)});
    const nmt::Result s = nmt::nmleak({"snapshot", std::to_string(child), "-o", "/tmp/nmt-zombie.nmsnap"});
    ::waitpid(child, nullptr, 0);
    EXPECT_EQ(a.status, 1);
    EXPECT_NE(a.err.find("zombie until its parent " + std::to_string(::getpid())), std::string::npos) << a.err;
    EXPECT_EQ(a.err.find("not an nmleak process"), std::string::npos) << a.err;
    EXPECT_EQ(s.status, 1);
    EXPECT_NE(s.err.find("zombie"), std::string::npos) << s.err;
}

TEST_F(Attach, AThreadTracedByADebuggerIsNamedAndAvoided) {
    Process p;
    const pid_t pid = start_target(p, {"--worker"});
    ASSERT_GT(pid, 0);
    // This test process plays the debugger that traces one thread (the worker).
    ASSERT_EQ(::ptrace(PTRACE_SEIZE, worker_, nullptr, nullptr), 0) << std::strerror(errno);
    const nmt::Result forced = nmt::nmleak({"attach", "--thread", std::to_string(worker_), std::to_string(pid)});
    const nmt::Result chosen = nmt::nmleak({"attach", std::to_string(pid)});
    ::ptrace(PTRACE_INTERRUPT, worker_, nullptr, nullptr);
    int st = 0;
    ::waitpid(worker_, &st, __WALL);
    ::ptrace(PTRACE_DETACH, worker_, nullptr, nullptr);
    EXPECT_EQ(forced.status, 1);
    EXPECT_NE(forced.err.find("already traced by process " + std::to_string(::getpid())), std::string::npos)
        << forced.err;
    EXPECT_EQ(forced.err.find("non-dumpable"), std::string::npos) << forced.err;
    // Without --thread, nmleak borrows a thread nobody traces.
    EXPECT_EQ(chosen.status, 0) << chosen.err;
    EXPECT_EQ(chosen.out.find("thread " + std::to_string(worker_) + " "), std::string::npos) << chosen.out;
    const std::string status = p.ask("status", "status");
    EXPECT_NE(status.find("errors=0"), std::string::npos) << status;
}

TEST_F(Attach, AnotherUsersProcessIsExplainedWithoutPtrace) {
    if (const std::string why = nmt::other_user_unavailable(); !why.empty()) GTEST_SKIP() << why;
    Process p;
    const pid_t pid = start_target(p);
    ASSERT_GT(pid, 0);
    // Connecting needs no ptrace: the reason is the owner, not Yama or dumpability.
    const nmt::Result r = nmt::run(nmt::nmleak_as_nobody({"snapshot", std::to_string(pid), "-o", "/tmp/nmt-x.nmsnap"}));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("belongs to uid 0"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("ptrace"), std::string::npos) << r.err;
}

TEST_F(Attach, SnapshotVerbAndPs) {
    Process p;
    const pid_t pid = start_target(p);
    ASSERT_GT(pid, 0);
    const nmt::Result before = nmt::nmleak({"ps"});
    EXPECT_NE(before.out.find(std::to_string(pid)), std::string::npos) << before.out;
    EXPECT_NE(before.out.find("attach to see"), std::string::npos) << before.out;

    const std::string file = "/tmp/nmt-attach-" + std::to_string(pid) + ".nmsnap";
    // --attach: attach for the snapshot, detach again afterwards.
    const nmt::Result s = nmt::nmleak({"snapshot", std::to_string(pid), "-o", file, "--attach"});
    ASSERT_EQ(s.status, 0) << s.err;
    nm::model::Snapshot snap;
    std::string error;
    ASSERT_TRUE(nm::snapshot_io::read_file(file, &snap, &error)) << error;
    ::unlink(file.c_str());
    ASSERT_NE(nmt::expert(snap, "alpha"), nullptr);
    EXPECT_EQ(nmt::expert(snap, "alpha")->blocks.size(), 5u);
    EXPECT_NE(nmt::nmleak({"detach", std::to_string(pid)}).status, 0) << "--attach should have detached";

    // --no-heap: the figures are the experts' alone (no module key of agent_target's own heap).
    ASSERT_EQ(nmt::nmleak({"attach", "-q", "--no-heap", std::to_string(pid)}).status, 0);
    const nmt::Result after = nmt::nmleak({"ps"});
    const size_t row = after.out.find(std::to_string(pid));
    ASSERT_NE(row, std::string::npos) << after.out;
    std::istringstream cols(after.out.substr(row, after.out.find('\n', row) - row));
    std::string pid_col, agent, keys, open, blocks;
    cols >> pid_col >> agent >> keys >> open >> blocks;
    EXPECT_EQ(agent, "yes") << after.out;
    EXPECT_EQ(keys, "2") << after.out;
    EXPECT_EQ(blocks, "8") << after.out; // 5 + 3 live blocks
}

TEST_F(Attach, TerminateByIdAndUpdatesStream) {
    Process p;
    const pid_t pid = start_target(p);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(nmt::nmleak({"attach", "-q", std::to_string(pid)}).status, 0);

    nm::proto::Client c;
    nm::proto::ConnectOptions o; // subscribe + blocks
    std::string error;
    ASSERT_TRUE(c.connect(pid, o, &error)) << error;
    nm::proto::Message m;
    ASSERT_EQ(c.read(&m, 10000, &error), nm::proto::ReadStatus::Message) << error;
    ASSERT_EQ(m.type, nm::proto::MessageType::Snapshot);
    nm::proto::LiveView view;
    view.reset(std::move(m.snapshot));
    const nm::model::Expert *beta = nmt::expert(view.snapshot(), "beta");
    ASSERT_NE(beta, nullptr);
    const uint64_t beta_id = beta->id;

    const uint32_t seq = c.send_terminate(beta_id, &error);
    ASSERT_NE(seq, 0u) << error;
    nm::proto::Reply reply;
    ASSERT_TRUE(c.wait_reply(seq, &reply, 5000, &error)) << error;
    EXPECT_EQ(reply.status, nm::proto::ReplyStatus::Ok) << reply.message;
    EXPECT_EQ(p.ask("status", "status"), "status iterations=0 errors=0 beta=125"); // NMERR_EXPERT_TERMINATE
    const uint32_t bad = c.send_terminate(987654321, &error);
    ASSERT_TRUE(c.wait_reply(bad, &reply, 5000, &error)) << error;
    EXPECT_EQ(reply.status, nm::proto::ReplyStatus::NoSuchKey);

    // Closing beta reaches the client as an update: the key closed, one cleanup of its 3 blocks,
    // grouped under the symbolized stack that allocated them.
    EXPECT_EQ(p.ask("close-beta", "closed"), "closed beta");
    bool closed = false;
    for (int64_t deadline = nmt::now_ms() + 5000; !closed && nmt::now_ms() < deadline;) {
        if (c.read(&m, 1000, &error) != nm::proto::ReadStatus::Message) continue;
        if (m.type != nm::proto::MessageType::Update) continue;
        view.apply(m);
        const nm::model::Expert *b = nmt::expert(view.snapshot(), "beta");
        closed = b && b->state == nm::model::ExpertState::Closed;
    }
    ASSERT_TRUE(closed) << "no update showed beta closed";
    const nm::model::Snapshot &s = view.snapshot();
    const nm::model::Expert *b = nmt::expert(s, "beta");
    ASSERT_EQ(b->cleanups.size(), 1u);
    EXPECT_EQ(b->cleanups[0].blocks, 3u);
    EXPECT_EQ(b->cleanups[0].bytes, 3u * 4096);
    ASSERT_FALSE(b->cleanups[0].stacks.empty());
    EXPECT_TRUE(nmt::stack_has(s, b->cleanups[0].stacks[0].stack, "nmt_alloc_beta_blocks"));
    EXPECT_TRUE(b->blocks.empty());
    EXPECT_EQ(nmt::expert(s, "alpha")->blocks.size(), 5u); // untouched by the update
}

} // namespace

// test_agent_reach.cpp - reachability under `nmleak run`: the exit report (after the program's own
// exit, with its threads still running) and a live snapshot classify every block of reach_target
// as the program says it should be; --fail-on-leak counts only lost blocks unless --leaks all.
#include <gtest/gtest.h>

#include <nmleak/snapshot_io.hpp>

#include <filesystem>
#include <map>
#include <sstream>

#include "agent_support/harness.hpp"

#ifndef NMT_REACH_TARGET
#define NMT_REACH_TARGET NM_BUILD_DIR "/tests/agent_support/reach_target"
#endif

namespace fs = std::filesystem;
using nmt::Process;

namespace {

constexpr uint64_t kMask = 0x5a5a5a5a5a5a5a5aull;

struct Want {
    std::string cls, what;
};

// "block CLASS MASKED WHAT" lines up to "ready".
std::map<uint64_t, Want> read_blocks(Process &p, pid_t *pid = nullptr) {
    std::map<uint64_t, Want> out;
    std::string line;
    while (p.wait_line("", &line)) {
        if (line.rfind("ready ", 0) == 0) {
            if (pid) *pid = pid_t(std::atol(line.c_str() + 6));
            break;
        }
        if (line.rfind("block ", 0) != 0) continue;
        std::istringstream in(line.substr(6));
        std::string cls, hex, what;
        in >> cls >> hex >> what;
        out[std::stoull(hex, nullptr, 16) ^ kMask] = {cls, what};
    }
    return out;
}

const char *reach_name(nm::model::Reach r) {
    switch (r) {
    case nm::model::Reach::Reachable: return "reachable";
    case nm::model::Reach::IndirectlyLost: return "indirectly_lost";
    case nm::model::Reach::DefinitelyLost: return "definitely_lost";
    default: return "unknown";
    }
}

void expect_classes(const nm::model::Snapshot &s, const std::map<uint64_t, Want> &want) {
    ASSERT_TRUE(s.process.reach_classified);
    const nm::model::Expert *e = nmt::expert(s, "reach-target");
    ASSERT_NE(e, nullptr);
    std::map<uint64_t, nm::model::Reach> got;
    for (const auto &b : e->blocks) got[b.address] = b.reach;
    ASSERT_EQ(want.size(), 18u);
    for (const auto &[addr, w] : want) {
        auto it = got.find(addr);
        ASSERT_NE(it, got.end()) << w.what;
        EXPECT_STREQ(reach_name(it->second), w.cls.c_str()) << w.what;
    }
}

class Reach : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nmt-reach-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(Reach, ExitReportClassifiesEveryBlock) {
    Process p;
    const fs::path snap_path = dir_ / "exit.nmsnap";
    ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--report", snap_path.string(), "--", NMT_REACH_TARGET}));
    const auto want = read_blocks(p);
    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 0) << p.stderr_text();
    nm::model::Snapshot s;
    std::string error;
    ASSERT_TRUE(nm::snapshot_io::read_file(snap_path.string(), &s, &error)) << error;
    expect_classes(s, want);
    EXPECT_EQ(s.process.reach_note, "") << "every thread was stopped";
}

TEST_F(Reach, TextReportSaysBytesPerClassPerKey) {
    Process p;
    const fs::path txt = dir_ / "exit.txt";
    // --no-heap: the classes of the target's API blocks. (With the heap tracked, the heap blocks its
    // main thread makes after calling the API with the key are the key's too: stdio, the STL.)
    ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--no-heap", "--report", txt.string(), "--", NMT_REACH_TARGET}));
    read_blocks(p);
    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 0) << p.stderr_text();
    std::ifstream f(txt);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string text = ss.str();
    // 48 + 32 + 64 bytes head three lost groups; 32 + 64 are reached only from them; the rest
    // (40 + 300 + 24 and, per list thread, 4 x 32 + 16) is still reachable.
    EXPECT_NE(text.find("definitely lost 144 bytes in 3 blocks, indirectly lost 96 bytes in 2 blocks, still "
                        "reachable 652 bytes in 13 blocks"),
              std::string::npos)
        << text;
    // The process-wide summary also counts the heap blocks tracked under module keys, so its total
    // is at least the target key's share; only its presence is checked here.
    EXPECT_NE(text.find(" bytes still reachable in "), std::string::npos) << text;
    EXPECT_NE(text.find(" blocks (not leaks)"), std::string::npos) << text;
    EXPECT_NE(text.find("definitely lost:"), std::string::npos) << text;
    EXPECT_EQ(text.find("still reachable:"), std::string::npos) << "reachable groups are not listed as leaks";
}

TEST_F(Reach, FailOnLeakCountsOnlyLostBlocks) {
    {
        Process p;
        ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--fail-on-leak", "--", NMT_REACH_TARGET}));
        read_blocks(p);
        EXPECT_EQ(p.ask("quit", "bye"), "bye");
        EXPECT_EQ(p.wait_exit(), 23) << p.stderr_text();
    }
    {
        Process p;
        ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--fail-on-leak", "--", NMT_REACH_TARGET, "--reachable-only"}));
        read_blocks(p);
        EXPECT_EQ(p.ask("quit", "bye"), "bye");
        EXPECT_EQ(p.wait_exit(), 0) << "only reachable blocks remain: " << p.stderr_text();
    }
    {
        Process p;
        ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--fail-on-leak", "--leaks", "all", "--", NMT_REACH_TARGET,
                             "--reachable-only"}));
        read_blocks(p);
        EXPECT_EQ(p.ask("quit", "bye"), "bye");
        EXPECT_EQ(p.wait_exit(), 23) << "--leaks all counts reachable blocks: " << p.stderr_text();
    }
}

TEST_F(Reach, LiveSnapshotClassifiesAndTheProgramGoesOn) {
    Process p;
    ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--", NMT_REACH_TARGET}));
    pid_t pid = 0;
    const auto want = read_blocks(p, &pid);
    ASSERT_GT(pid, 0);
    const fs::path snap_path = dir_ / "live.nmsnap";
    for (int round = 0; round < 3; ++round) {
        const nmt::Result r = nmt::nmleak({"snapshot", std::to_string(pid), "-o", snap_path.string()});
        ASSERT_EQ(r.status, 0) << r.err;
        nm::model::Snapshot s;
        std::string error;
        ASSERT_TRUE(nm::snapshot_io::read_file(snap_path.string(), &s, &error)) << error;
        expect_classes(s, want);
    }
    // The report of the saved snapshot counts the lost blocks only, or all with --leaks all.
    const nmt::Result lost = nmt::nmleak({"report", snap_path.string(), "--fail-on-leak"});
    EXPECT_EQ(lost.status, 23) << lost.err;
    EXPECT_NE(lost.out.find("indirectly lost"), std::string::npos) << lost.out;
    EXPECT_TRUE(p.alive());
    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 0) << p.stderr_text();
}

TEST_F(Reach, ReachCanBeTurnedOff) {
    Process p;
    const fs::path snap_path = dir_ / "off.nmsnap";
    ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--report", snap_path.string(), "--", NMT_REACH_TARGET},
                        {"NMLEAK_REACH=0"}));
    read_blocks(p);
    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 0) << p.stderr_text();
    nm::model::Snapshot s;
    std::string error;
    ASSERT_TRUE(nm::snapshot_io::read_file(snap_path.string(), &s, &error)) << error;
    EXPECT_FALSE(s.process.reach_classified);
    for (const auto &e : s.experts)
        for (const auto &b : e.blocks) EXPECT_EQ(b.reach, nm::model::Reach::Unknown);
}

} // namespace

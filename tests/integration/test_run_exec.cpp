// test_run_exec.cpp - `nmleak run` follows PROG through its own exec (a wrapper script, Debian's
// zcat), not into the children PROG forks unless --follow-children, prints what PROG left at exit
// when no --report is given, and runs threads whose first heap call is inside pthread_getattr_np
// (a program of the suite's, and Debian's ripgrep, a Rust program).
#include "../support/report_json.hpp"
#include "../support/run_program.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using nmt::has_leak_in;
using nmt::key_named;

class RunExec : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nmt-exec-" + std::to_string(getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // `nmleak run -q --report DIR/r.json [options] -- prog...`; the report, or null if none.
    // With `bounded`, nmleak itself runs under timeout(1) (which forks: PROG must stay nmleak's
    // own child): a wait bound for tests whose defect would be a hang, not a timing check.
    json report_of(const std::vector<std::string> &prog, const std::vector<std::string> &options = {},
                   nmt::RunResult *result = nullptr, bool bounded = false) {
        std::vector<std::string> argv = {NMT_NMLEAK, "run", "-q", "--report", (dir_ / "r.json").string()};
        if (bounded) argv.insert(argv.begin(), {"/usr/bin/timeout", "120"});
        argv.insert(argv.end(), options.begin(), options.end());
        argv.push_back("--");
        argv.insert(argv.end(), prog.begin(), prog.end());
        const nmt::RunResult r = nmt::run(argv);
        if (result) *result = r;
        return read_json(dir_ / "r.json");
    }

    static json read_json(const fs::path &p) {
        std::ifstream in(p);
        if (!in) return nullptr;
        return json::parse(in);
    }

    fs::path dir_;
};

std::string base_name(const std::string &p) { return fs::path(p).filename().string(); }

TEST_F(RunExec, AWrapperScriptThatExecsStaysTracked) {
    const fs::path script = dir_ / "wrapper.sh";
    {
        std::ofstream s(script);
        s << "#!/bin/sh\n# a launcher, as analyzers are often started\nexec \"$@\"\n";
    }
    fs::permissions(script, fs::perms::owner_all);
    nmt::RunResult r;
    const json rep = report_of({script.string(), NMT_HEAP_C}, {}, &r);
    ASSERT_FALSE(rep.is_null()) << "no report after the wrapper's exec";
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(rep["process"]["executable"], fs::canonical(NMT_HEAP_C).string());
    const json *k = key_named(rep, base_name(NMT_HEAP_C));
    ASSERT_NE(k, nullptr) << rep.dump(1).substr(0, 2000);
    EXPECT_TRUE(has_leak_in(*k, "c_leak_malloc"));
}

TEST_F(RunExec, DebiansZcatExecsGzipAndStaysTracked) {
    if (!fs::exists("/usr/bin/zcat") || !fs::exists("/usr/bin/gzip")) GTEST_SKIP() << "gzip is not installed";
    const fs::path data = dir_ / "data";
    {
        std::ofstream d(data);
        for (int i = 0; i < 20000; ++i) d << "line " << i << " of the zcat test\n";
    }
    ASSERT_EQ(nmt::run({"/usr/bin/gzip", "-k", data.string()}).status, 0);
    const nmt::RunResult plain = nmt::run({"/usr/bin/zcat", (dir_ / "data.gz").string()});
    nmt::RunResult r;
    const json rep = report_of({"/usr/bin/zcat", (dir_ / "data.gz").string()}, {}, &r);
    EXPECT_EQ(r.status, plain.status);
    EXPECT_EQ(r.out, plain.out);
    ASSERT_FALSE(rep.is_null());
    // zcat is a shell script ending in `exec gzip -cd`: the report is gzip's.
    EXPECT_EQ(base_name(rep["process"]["executable"].get<std::string>()), "gzip");
    EXPECT_TRUE(rep["process"]["heap_tracked"].get<bool>());
}

TEST_F(RunExec, ForkedChildrenAreNotTrackedUnlessFollowed) {
    // sh forks the program and waits for it: the child is not the process nmleak started.
    const std::vector<std::string> prog = {"/bin/sh", "-c", std::string(NMT_HEAP_C) + "; true"};
    const json alone = report_of(prog);
    ASSERT_FALSE(alone.is_null());
    EXPECT_EQ(key_named(alone, base_name(NMT_HEAP_C)), nullptr) << "a child was tracked without --follow-children";
    size_t siblings = 0;
    for (const auto &e : fs::directory_iterator(dir_)) siblings += e.path().filename() != "r.json";
    EXPECT_EQ(siblings, 0u);

    fs::remove(dir_ / "r.json");
    const json followed = report_of(prog, {"--follow-children"});
    ASSERT_FALSE(followed.is_null());
    bool child_found = false;
    for (const auto &e : fs::directory_iterator(dir_)) {
        if (e.path().filename() == "r.json") continue;
        const json child = read_json(e.path());
        if (const json *k = key_named(child, base_name(NMT_HEAP_C)))
            child_found = has_leak_in(*k, "c_leak_malloc");
    }
    EXPECT_TRUE(child_found) << "the followed child's report beside r.json names its leak";
}

TEST_F(RunExec, WithoutAReportTheExitSummaryNamesTheLeakSites) {
    const std::string err = (dir_ / "err.txt").string();
    const nmt::RunResult r = nmt::run({NMT_NMLEAK, "run", "--", NMT_HEAP_C}, err);
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.err.find("leaked 13473 bytes in 12 blocks from 3 stacks"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(base_name(NMT_HEAP_C) + " (module): 13473 bytes in 12 blocks"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("10450 bytes in 10 blocks at c_leak_malloc"), std::string::npos) << r.err;
    // strdup is libc's: the site is the program's caller of it.
    EXPECT_NE(r.err.find("23 bytes in 1 block at c_leak_strdup"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--report FILE"), std::string::npos) << r.err;

    const nmt::RunResult quiet = nmt::run({NMT_NMLEAK, "run", "-q", "--", NMT_HEAP_C}, err);
    EXPECT_EQ(quiet.err, "") << "-q prints nothing of nmleak's";

    const nmt::RunResult clean = nmt::run({NMT_NMLEAK, "run", "--", "/bin/true"}, err);
    EXPECT_EQ(clean.status, 0);
    EXPECT_NE(clean.err.find("/bin/true left no leaks"), std::string::npos) << clean.err;
}

// `-o /dev/null` (a device) is written in place, never replaced by a renamed temporary: as root
// that would turn /dev/null into a regular file for every process on the machine.
TEST_F(RunExec, ReportToADeviceWritesInPlace) {
    const std::string snap = (dir_ / "r.nmsnap").string();
    nmt::RunResult r;
    ASSERT_FALSE(report_of({NMT_HEAP_C}).is_null());
    ASSERT_EQ(nmt::run({NMT_NMLEAK, "run", "-q", "--report", snap, "--", NMT_HEAP_C}).status, 0);
    struct stat before {};
    ASSERT_EQ(::stat("/dev/null", &before), 0);
    ASSERT_TRUE(S_ISCHR(before.st_mode)) << "/dev/null is not a device before the test";
    for (const char *format : {"text", "json", "html", "pprof"}) {
        r = nmt::run({NMT_NMLEAK, "report", snap, "--format", format, "-o", "/dev/null"});
        EXPECT_EQ(r.status, 0) << format;
        struct stat after {};
        ASSERT_EQ(::stat("/dev/null", &after), 0);
        EXPECT_TRUE(S_ISCHR(after.st_mode)) << format << ": /dev/null was replaced";
        EXPECT_EQ(after.st_rdev, before.st_rdev) << format;
    }
}

TEST_F(RunExec, ThreadsThatAskForTheirStackFirstDoNotHang) {
    const nmt::RunResult plain = nmt::run({NMT_HEAP_GETATTR});
    ASSERT_EQ(plain.status, 0);
    nmt::RunResult r;
    const json rep = report_of({NMT_HEAP_GETATTR}, {}, &r, true);
    EXPECT_EQ(r.status, 0) << "124 means it hung";
    EXPECT_EQ(r.out, plain.out);
    ASSERT_FALSE(rep.is_null());
    EXPECT_EQ(rep["process"]["executable"], fs::canonical(NMT_HEAP_GETATTR).string());
    EXPECT_TRUE(rep["process"]["heap_tracked"].get<bool>());
    EXPECT_EQ(plain.out, "main stack known: 1, threads with a known stack: 8\n");
}

TEST_F(RunExec, DebiansRipgrepSearchesWithItsThreads) {
    if (!fs::exists("/usr/bin/rg")) GTEST_SKIP() << "ripgrep is not installed (third_party/install-deps.sh --test)";
    fs::create_directories(dir_ / "tree");
    for (int i = 0; i < 300; ++i) std::ofstream(dir_ / "tree" / ("f" + std::to_string(i) + ".txt")) << "a needle " << i << "\n";
    const std::vector<std::string> rg = {"/usr/bin/rg", "--sort", "path", "-c", "needle", (dir_ / "tree").string()};
    const nmt::RunResult plain = nmt::run(rg);
    ASSERT_EQ(plain.status, 0);
    nmt::RunResult r;
    const json rep = report_of(rg, {}, &r, true);
    EXPECT_EQ(r.status, 0) << "124 means it hung";
    EXPECT_EQ(r.out, plain.out);
    ASSERT_FALSE(rep.is_null());
    EXPECT_EQ(base_name(rep["process"]["executable"].get<std::string>()), "rg");
    EXPECT_TRUE(rep["process"]["heap_tracked"].get<bool>());
    EXPECT_NE(key_named(rep, "rg"), nullptr) << "ripgrep's own allocations are charged to it";
}

} // namespace

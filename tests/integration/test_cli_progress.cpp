// test_cli_progress.cpp - the progress line: drawn on a terminal, never into a pipe or with -q.
//
// `script` (util-linux) runs nmleak on a pseudo-terminal. NMLEAK_PROGRESS_AFTER_MS=0 draws from
// the first stage on, so the test does not depend on how long the work takes.
#include <nmleak/snapshot_io.hpp>

#include "unit/golden.hpp"
#include "unit/report_sample.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;

namespace {

std::string quote(const std::string &s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

class Progress : public ::testing::Test {
protected:
    void SetUp() override {
        if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "script (util-linux) is not on PATH";
        char tmpl[] = "/tmp/nmleak-progress-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        snap_ = dir_ / "s.nmsnap";
        std::string error;
        ASSERT_TRUE(nm::snapshot_io::write_file(nm::test::sample_snapshot(), snap_.string(), &error)) << error;
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // Runs `args` on a terminal (script) or not; returns what reached the terminal / stderr.
    std::string run(const std::string &args, bool terminal) {
        const std::string nmleak = quote(std::string(NM_BUILD_DIR) + "/inject/nmleak");
        const fs::path log = dir_ / "log";
        std::string cmd = "NMLEAK_PROGRESS_AFTER_MS=0 " + nmleak + " " + args;
        if (terminal)
            cmd = "script -qec " + quote(cmd) + " /dev/null >" + quote(log.string()) + " 2>&1 </dev/null";
        else
            cmd += " 2>" + quote(log.string()) + " | cat >/dev/null";
        EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
        std::string out;
        nm::test::read_text(log.string(), &out);
        return out;
    }

    fs::path dir_, snap_;
};

TEST_F(Progress, DrawnOnATerminal) {
    const std::string out = run("report " + quote(snap_.string()) + " -o " + quote((dir_ / "r.html").string()), true);
    EXPECT_NE(out.find("\r\033[Knmleak: reading "), std::string::npos) << out;
    EXPECT_NE(out.find("nmleak: building the flame graph 100%"), std::string::npos) << out;
    EXPECT_NE(out.find("nmleak: writing HTML 100%"), std::string::npos) << out;
    EXPECT_NE(out.find("nmleak: counting the leaks..."), std::string::npos) << out;
    // The line is erased before the summary is printed.
    EXPECT_NE(out.find("\r\033[Knmleak: wrote html report"), std::string::npos) << out;

    const std::string pprof = run("report " + quote(snap_.string()) + " -o " + quote((dir_ / "r.pb.gz").string()), true);
    EXPECT_NE(pprof.find("nmleak: writing pprof 100%"), std::string::npos) << pprof;
    EXPECT_NE(pprof.find("nmleak: compressing the profile..."), std::string::npos) << pprof;
    EXPECT_NE(pprof.find("\r\033[Knmleak: wrote pprof report"), std::string::npos) << pprof;

    const std::string diff = run("diff " + quote(snap_.string()) + " " + quote(snap_.string()) + " -o " +
                                     quote((dir_ / "d.txt").string()),
                                 true);
    EXPECT_NE(diff.find("nmleak: grouping blocks"), std::string::npos) << diff;
}

TEST_F(Progress, QuietWithoutATerminalOrWithQ) {
    const std::string out = run("report " + quote(snap_.string()) + " -o " + quote((dir_ / "r.html").string()), false);
    EXPECT_EQ(out.find('\r'), std::string::npos) << out;
    EXPECT_NE(out.find("nmleak: wrote html report"), std::string::npos) << out;
    const std::string quiet =
        run("report -q " + quote(snap_.string()) + " -o " + quote((dir_ / "r.html").string()), true);
    EXPECT_EQ(quiet.find("nmleak:"), std::string::npos) << quiet;
    // A report printed on the terminal itself gets no progress line mixed in.
    const std::string shown = run("report " + quote(snap_.string()), true);
    EXPECT_EQ(shown.find("\033[K"), std::string::npos) << shown.substr(0, 300);
    EXPECT_NE(shown.find("ERROR: nmleak: detected memory leaks"), std::string::npos);
}

} // namespace

// test_agent_cli_safety.cpp - the command line against hostile input and odd runs: special files
// are refused instead of blocking, strings from experts, processes and files are escaped in every
// text it prints, and every process of `nmleak run` keeps its own exit report.
#include <nmleak/snapshot_io.hpp>
#include <nmleak/text.hpp>

#include "agent_support/harness.hpp"
#include "unit/hostile_sample.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

using nmt::Process;

class CliSafety : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nmt-safety-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string &name) const { return (dir_ / name).string(); }
    std::string write_snapshot(const std::string &name, const nm::model::Snapshot &s) {
        std::string error;
        EXPECT_TRUE(nm::snapshot_io::write_file(s, path(name), &error)) << error;
        return path(name);
    }
    static std::string slurp(const std::string &p) {
        std::ifstream in(p, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    fs::path dir_;
};

// `report` and `diff` on a FIFO that has no writer: refused at once (the harness would kill a
// command that blocks, after 20 s, and the status would not be 1).
TEST_F(CliSafety, FifosAreRefusedByReportAndDiff) {
    const std::string fifo = path("fifo.nmsnap");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const std::string sample = write_snapshot("sample.nmsnap", nm::test::sample_snapshot());
    for (const std::vector<std::string> &args : std::vector<std::vector<std::string>>{
             {"report", fifo}, {"diff", fifo, sample}, {"diff", sample, fifo}, {"report", sample, "-s", fifo}}) {
        const nmt::Result r = nmt::nmleak(args, 20000);
        EXPECT_EQ(r.status, 1) << args[0] << " " << args[1] << ": " << r.err;
        EXPECT_NE(r.err.find("FIFO"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(fifo), std::string::npos) << "the message names the file: " << r.err;
    }
    const nmt::Result dev = nmt::nmleak({"report", "/dev/zero"}, 20000);
    EXPECT_EQ(dev.status, 1);
    EXPECT_NE(dev.err.find("character device"), std::string::npos) << dev.err;
}

// The text report and the diff of a crafted snapshot: every name, status, detail and symbol is
// there, escaped; JSON keeps the exact strings.
TEST_F(CliSafety, ReportAndDiffEscapeHostileStrings) {
    const std::string before = write_snapshot("before.nmsnap", nm::test::hostile_snapshot());
    nm::model::Snapshot changed = nm::test::hostile_snapshot();
    changed.experts[0].cleanups[0].stacks[0] = {1, 4, 8192};
    const std::string after = write_snapshot("after.nmsnap", changed);
    const std::string escaped = nm::text::escape(nm::test::kHostile);

    const nmt::Result text = nmt::nmleak({"report", before});
    ASSERT_EQ(text.status, 0) << text.err;
    EXPECT_EQ(nm::test::first_unsafe_byte(text.out), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("http" + escaped + " (key 1)"), std::string::npos) << text.out;

    const nmt::Result diff = nmt::nmleak({"diff", before, after});
    ASSERT_EQ(diff.status, 0) << diff.err;
    EXPECT_EQ(nm::test::first_unsafe_byte(diff.out), std::string::npos) << diff.out;
    EXPECT_NE(diff.out.find("http" + escaped), std::string::npos) << diff.out;

    // Messages that quote a path: a file name can hold escapes too.
    const nmt::Result missing = nmt::nmleak({"report", path("missing" + nm::test::kHostile)});
    EXPECT_EQ(missing.status, 1);
    EXPECT_EQ(nm::test::first_unsafe_byte(missing.err), std::string::npos) << missing.err;
    EXPECT_NE(missing.err.find("missing" + escaped), std::string::npos) << missing.err;

    const nmt::Result json = nmt::nmleak({"report", before, "--format", "json"});
    ASSERT_EQ(json.status, 0) << json.err;
    const auto j = nlohmann::json::parse(json.out);
    EXPECT_EQ(std::string(j["experts"][0]["name"]).rfind("http\x1b]0;owned\x07", 0), 0u);
}

// `nmleak ps` and `nmleak snapshot` print a live process's command line, and names it chose.
TEST_F(CliSafety, PsAndSnapshotEscapeWhatTheProcessChose) {
    Process p;
    ASSERT_TRUE(p.start({NMT_NMLEAK, "run", "-q", "--", NMT_AGENT_TARGET, "--title" + nm::test::kHostile}));
    const pid_t pid = p.wait_ready();
    ASSERT_GT(pid, 0) << p.stderr_text();
    const std::string escaped = nm::text::escape(nm::test::kHostile);

    const nmt::Result ps = nmt::nmleak({"ps"});
    ASSERT_EQ(ps.status, 0) << ps.err;
    EXPECT_EQ(nm::test::first_unsafe_byte(ps.out), std::string::npos) << ps.out;
    // ps shortens command lines past 80 bytes (to 77 and "..."), wherever the build directory
    // is; what it shows is escaped.
    const std::string command = std::string(NMT_AGENT_TARGET) + " --title" + nm::test::kHostile;
    const std::string shown = command.size() > 80 ? command.substr(0, 77) : command;
    EXPECT_NE(ps.out.find(nm::text::escape(shown)), std::string::npos) << ps.out;

    const std::string out = path("snap" + nm::test::kHostile + ".nmsnap");
    const nmt::Result snap = nmt::nmleak({"snapshot", std::to_string(pid), "-o", out});
    ASSERT_EQ(snap.status, 0) << snap.err;
    EXPECT_EQ(nm::test::first_unsafe_byte(snap.err), std::string::npos) << snap.err;
    EXPECT_NE(snap.err.find("snap" + escaped), std::string::npos) << snap.err;

    // The report of that snapshot shows the command line, escaped.
    const nmt::Result text = nmt::nmleak({"report", out});
    ASSERT_EQ(text.status, 0) << text.err;
    EXPECT_EQ(nm::test::first_unsafe_byte(text.out), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("--title" + escaped), std::string::npos) << text.out;

    EXPECT_EQ(p.ask("quit", "bye"), "bye");
    EXPECT_EQ(p.wait_exit(), 0);
}

// PROG is a wrapper script that runs two libnmapi processes, one after the other, then exits
// itself. Each process writes its own report; PROG's goes to --report FILE and decides the exit
// status, the others are kept beside it as FILE with .PID before the extension.
TEST_F(CliSafety, RunKeepsTheReportOfEveryProcessOfTheRun) {
    const std::string script = path("wrapper.sh");
    std::ofstream(script) << "#!/bin/sh\n"
                          << "echo $$ > '" << path("wrapper.pid") << "'\n"
                          << "'" << NMT_AGENT_TARGET << "' < /dev/null > /dev/null\n"
                          << "'" << NMT_AGENT_TARGET << "' < /dev/null > /dev/null\n"
                          << "exit 0\n";
    fs::permissions(script, fs::perms::owner_all);
    const std::string report = path("run.json");
    const nmt::Result r = nmt::nmleak({"run", "--no-heap", "--fail-on-leak", "--report", report, "--", script});
    // The wrapper itself (PROG) allocates through no key: its own report is clean, so the leaks of
    // the two analyzers it ran do not decide the status.
    EXPECT_EQ(r.status, 0) << r.err;
    const long wrapper = std::stol(slurp(path("wrapper.pid")));

    ASSERT_TRUE(fs::exists(report)) << r.err;
    const auto own = nlohmann::json::parse(slurp(report));
    EXPECT_EQ(own["process"]["pid"], wrapper);
    std::vector<long> others;
    for (const auto &entry : fs::directory_iterator(dir_)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("run.") && name.ends_with(".json") && name != "run.json")
            others.push_back(std::stol(name.substr(4, name.size() - 9)));
    }
    ASSERT_EQ(others.size(), 2u) << r.err;
    for (long pid : others) {
        EXPECT_NE(pid, wrapper);
        const auto j = nlohmann::json::parse(slurp(path("run." + std::to_string(pid) + ".json")));
        EXPECT_EQ(j["process"]["pid"], pid);
        bool alpha = false;
        for (const auto &e : j["experts"]) alpha = alpha || e["name"] == "alpha";
        EXPECT_TRUE(alpha) << "an analyzer's own report: " << j.dump().substr(0, 400);
        EXPECT_NE(r.err.find("run." + std::to_string(pid) + ".json"), std::string::npos) << r.err;
    }
}

// When the wrapper hands its process over (exec), PROG's report is the analyzer's: its leaks
// decide the status.
TEST_F(CliSafety, RunExitStatusComesFromProgsOwnReport) {
    const std::string script = path("exec.sh");
    std::ofstream(script) << "#!/bin/sh\n"
                          << "'" << NMT_AGENT_TARGET << "' < /dev/null > /dev/null\n"
                          << "exec '" << NMT_AGENT_TARGET << "' < /dev/null > /dev/null\n";
    fs::permissions(script, fs::perms::owner_all);
    const std::string report = path("exec.txt");
    const nmt::Result r = nmt::nmleak({"run", "--no-heap", "--fail-on-leak", "--report", report, "--", script});
    EXPECT_EQ(r.status, 23) << r.err;
    const std::string text = slurp(report);
    EXPECT_NE(text.find("alpha"), std::string::npos) << text;
    size_t siblings = 0;
    for (const auto &entry : fs::directory_iterator(dir_)) {
        const std::string name = entry.path().filename().string();
        siblings += name.starts_with("exec.") && name.ends_with(".txt") && name != "exec.txt";
    }
    EXPECT_EQ(siblings, 1u) << "the first analyzer's report is kept beside: " << r.err;
}

// Outside `nmleak run`: a %p in NMLEAK_REPORT gives each process its own file.
TEST_F(CliSafety, PercentPInTheReportPathIsThePid) {
    const nmt::Result r = nmt::run({"/usr/bin/env", "NMLEAK_REPORT=" + path("each.%p.json"), "/bin/sh", "-c",
                                    std::string("'") + NMT_AGENT_TARGET + "' </dev/null >/dev/null; '" +
                                        NMT_AGENT_TARGET + "' </dev/null >/dev/null"});
    EXPECT_EQ(r.status, 0) << r.err;
    size_t files = 0;
    for (const auto &entry : fs::directory_iterator(dir_)) {
        const std::string name = entry.path().filename().string();
        if (!name.starts_with("each.")) continue;
        ++files;
        const long pid = std::stol(name.substr(5));
        EXPECT_EQ(nlohmann::json::parse(slurp(entry.path().string()))["process"]["pid"], pid);
    }
    EXPECT_EQ(files, 2u);
}

} // namespace

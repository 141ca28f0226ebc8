// test_cli_report.cpp - the `nmleak report` and `nmleak diff` command lines: output, errors, exit codes.
#include <nmleak/report.hpp>
#include <nmleak/snapshot_io.hpp>

#include "unit/golden.hpp"
#include "unit/report_sample.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

struct Outcome {
    int status = -1;  // exit status; -1 if it did not exit normally
    int signal = 0;   // the signal that killed it, if any
    std::string out, err;
};

std::string nmleak_path() { return std::string(NM_BUILD_DIR) + "/inject/nmleak"; }

Outcome run_nmleak(const std::vector<std::string> &args, const fs::path &dir) {
    const fs::path out = dir / "stdout", err = dir / "stderr";
    pid_t pid = fork();
    if (pid == 0) {
        int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(o, 1);
        ::dup2(e, 2);
        std::vector<char *> argv;
        std::string self = nmleak_path();
        argv.push_back(self.data());
        std::vector<std::string> copy = args;
        for (auto &a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(self.c_str(), argv.data());
        _exit(127);
    }
    Outcome r;
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (WIFEXITED(st)) r.status = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) r.signal = WTERMSIG(st);
    nm::test::read_text(out, &r.out);
    nm::test::read_text(err, &r.err);
    return r;
}

class Cli : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(fs::exists(nmleak_path())) << nmleak_path() << " was not built";
        dir_ = fs::path(NM_TEST_BINARY_DIR) / ("cli-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        sample_ = (dir_ / "sample.nmsnap").string();
        std::string error;
        ASSERT_TRUE(nm::snapshot_io::write_file(nm::test::sample_snapshot(), sample_, &error)) << error;
    }
    void TearDown() override { fs::remove_all(dir_); }

    Outcome run(const std::vector<std::string> &args) { return run_nmleak(args, dir_); }
    std::string write_bytes(const std::string &name, const std::vector<uint8_t> &bytes) {
        std::string p = (dir_ / name).string();
        std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char *>(bytes.data()),
                                                 static_cast<std::streamsize>(bytes.size()));
        return p;
    }
    std::vector<uint8_t> sample_bytes() {
        std::vector<uint8_t> b;
        std::string error;
        EXPECT_TRUE(nm::snapshot_io::encode(nm::test::sample_snapshot(), &b, &error));
        return b;
    }

    fs::path dir_;
    std::string sample_;
};

TEST_F(Cli, HelpForEveryVerb) {
    Outcome top = run({"--help"});
    EXPECT_EQ(top.status, 0) << top.err;
    EXPECT_NE(top.out.find("report"), std::string::npos) << top.out;
    EXPECT_NE(top.out.find("diff"), std::string::npos) << top.out;
    EXPECT_NE(top.out.find("23"), std::string::npos) << "exit codes are documented\n" << top.out;
    for (const char *verb : {"report", "diff"}) {
        Outcome r = run({verb, "--help"});
        EXPECT_EQ(r.status, 0) << verb << r.err;
        EXPECT_NE(r.out.find("--format"), std::string::npos) << r.out;
    }
    EXPECT_NE(run({"report", "--help"}).out.find("--fail-on-leak"), std::string::npos);
}

TEST_F(Cli, UsageErrorsExitOne) {
    Outcome none = run({});
    EXPECT_EQ(none.status, 1);
    EXPECT_FALSE(none.err.empty());
    EXPECT_EQ(run({"frobnicate"}).status, 1);
    EXPECT_EQ(run({"report"}).status, 1);
    Outcome bad_format = run({"report", sample_, "--format", "xml"});
    EXPECT_EQ(bad_format.status, 1);
    EXPECT_NE(bad_format.err.find("xml"), std::string::npos) << bad_format.err;
    EXPECT_EQ(run({"diff", sample_}).status, 1);
}

TEST_F(Cli, ReportTextMatchesTheGolden) {
    Outcome r = run({"report", sample_});
    ASSERT_EQ(r.status, 0) << r.err;
    nm::test::expect_golden("report.txt.expected", r.out);
}

TEST_F(Cli, ReportToFileByExtensionAndFormat) {
    const std::string json = (dir_ / "r.json").string();
    Outcome r = run({"report", sample_, "-o", json});
    ASSERT_EQ(r.status, 0) << r.err;
    std::string content;
    ASSERT_TRUE(nm::test::read_text(json, &content));
    nm::test::expect_golden("report.json.expected", content);
    EXPECT_NE(r.err.find("wrote json report"), std::string::npos) << r.err;

    for (const char *fmt : {"sarif", "folded"}) {
        Outcome f = run({"report", sample_, "--format", fmt});
        ASSERT_EQ(f.status, 0) << f.err;
        nm::test::expect_golden(std::string("report.") + fmt + ".expected", f.out);
    }
}

TEST_F(Cli, FailOnLeakAndSuppressions) {
    EXPECT_EQ(run({"report", sample_}).status, 0);
    EXPECT_EQ(run({"report", sample_, "--fail-on-leak"}).status, 23);

    const std::string supp = (dir_ / "s.supp").string();
    std::ofstream(supp) << "leak:libssl.so*\nleak:^dns_cache_insert$\nleak:function_that_does_not_exist\n";
    Outcome r = run({"report", sample_, "--suppressions", supp});
    ASSERT_EQ(r.status, 0) << r.err;
    // The same rules as test_report_writers' golden (the text report does not name the file).
    nm::test::expect_golden("report-suppressed.txt.expected", r.out);

    // Suppressing everything that has a stack, in a snapshot without the sizes-only key: exit 0.
    auto s = nm::test::sample_snapshot();
    s.experts.erase(s.experts.begin() + 6);
    const std::string all_supp = (dir_ / "all.supp").string();
    std::ofstream(all_supp) << "# everything\nleak:*\n";
    const std::string clean = (dir_ / "clean.nmsnap").string();
    std::string error;
    ASSERT_TRUE(nm::snapshot_io::write_file(s, clean, &error)) << error;
    EXPECT_EQ(run({"report", clean, "--fail-on-leak"}).status, 23);
    EXPECT_EQ(run({"report", clean, "--fail-on-leak", "-s", all_supp}).status, 0);

    Outcome bad = run({"report", sample_, "--suppressions", (dir_ / "missing.supp").string()});
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("missing.supp"), std::string::npos) << bad.err;
    std::ofstream(supp) << "race:foo\n";
    bad = run({"report", sample_, "--suppressions", supp});
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find(":1: unsupported suppression type 'race'"), std::string::npos) << bad.err;
}

TEST_F(Cli, BrokenSnapshotsExitOneWithAMessage) {
    auto bytes = sample_bytes();
    struct Case {
        std::string name;
        std::vector<uint8_t> bytes;
        std::string expect;
    };
    std::vector<Case> cases;
    cases.push_back({"empty.nmsnap", {}, "empty input"});
    cases.push_back({"truncated.nmsnap", {bytes.begin(), bytes.begin() + bytes.size() / 2}, "truncated"});
    cases.push_back({"header-only.nmsnap", {bytes.begin(), bytes.begin() + 20}, "truncated"});
    auto flipped = bytes;
    flipped[bytes.size() - 7] ^= 0x10;
    cases.push_back({"bitflip.nmsnap", flipped, "checksum mismatch"});
    auto magic = bytes;
    magic[1] = 'Z';
    cases.push_back({"magic.nmsnap", magic, "bad magic"});
    auto version = bytes;
    version[8] = 9; // and the header checksum no longer matches either
    cases.push_back({"version.nmsnap", version, "corrupted snapshot"});
    std::string text = "leak:foo\n";
    cases.push_back({"text.nmsnap", {text.begin(), text.end()}, "bad magic"});
    for (const Case &c : cases) {
        const std::string path = write_bytes(c.name, c.bytes);
        Outcome r = run({"report", path});
        EXPECT_EQ(r.signal, 0) << c.name << " crashed";
        EXPECT_EQ(r.status, 1) << c.name;
        EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.name << ": " << r.err;
        EXPECT_NE(r.err.find(path), std::string::npos) << c.name << ": the message names the file";
        EXPECT_TRUE(r.out.empty()) << c.name;
    }
    Outcome missing = run({"report", (dir_ / "nope.nmsnap").string()});
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("No such file"), std::string::npos) << missing.err;
    Outcome dir = run({"report", dir_.string()});
    EXPECT_EQ(dir.status, 1);
    EXPECT_NE(dir.err.find("directory"), std::string::npos) << dir.err;
}

TEST_F(Cli, WrongVersionHasItsOwnMessage) {
    auto bytes = sample_bytes();
    bytes[8] = 3;
    uint32_t crc = nm::snapshot_io::crc32({bytes.data(), 36});
    for (int i = 0; i < 4; ++i) bytes[36 + i] = static_cast<uint8_t>(crc >> (8 * i));
    Outcome r = run({"report", write_bytes("v3.nmsnap", bytes)});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("unsupported snapshot format version 3"), std::string::npos) << r.err;
}

TEST_F(Cli, UnwritableOutputExitsOne) {
    Outcome r = run({"report", sample_, "-o", "/nonexistent-dir/r.txt"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("/nonexistent-dir/r.txt"), std::string::npos) << r.err;
}

TEST_F(Cli, DiffTwoSnapshots) {
    auto after = nm::test::sample_snapshot();
    after.experts[0].cleanups[0].stacks[0] = {1, 4, 8192};
    const std::string after_path = (dir_ / "after.nmsnap").string();
    std::string error;
    ASSERT_TRUE(nm::snapshot_io::write_file(after, after_path, &error)) << error;

    Outcome same = run({"diff", sample_, sample_, "--fail-on-growth"});
    EXPECT_EQ(same.status, 0) << same.err;
    EXPECT_NE(same.out.find("0 new, 0 grew, 0 shrank, 0 gone"), std::string::npos) << same.out;

    Outcome text = run({"diff", sample_, after_path});
    EXPECT_EQ(text.status, 0) << text.err;
    EXPECT_NE(text.out.find("+4096 bytes (+2 blocks) in expert http [grew]"), std::string::npos) << text.out;
    EXPECT_EQ(run({"diff", sample_, after_path, "--fail-on-growth"}).status, 23);

    Outcome json = run({"diff", sample_, after_path, "--format", "json"});
    ASSERT_EQ(json.status, 0) << json.err;
    auto doc = nlohmann::json::parse(json.out);
    EXPECT_EQ(doc["counts"]["grew"], 1);

    Outcome broken = run({"diff", sample_, write_bytes("empty.nmsnap", {})});
    EXPECT_EQ(broken.status, 1);
    EXPECT_NE(broken.err.find("empty input"), std::string::npos) << broken.err;
}

// nmleak links libnmapi: its exit hook must not write the CLI's own (empty) record over the file a
// user's environment names, nor turn the exit status into 23.
TEST_F(Cli, IgnoresTheExitReportEnvironmentOfItsOwnProcess) {
    const std::string input = (dir_ / "input.nmsnap").string();
    fs::copy_file(sample_, input);
    ::setenv("NMLEAK_REPORT", input.c_str(), 1);
    ::setenv("NMLEAK_FAIL_ON_LEAK", "1", 1);
    Outcome r = run({"report", input});
    ::unsetenv("NMLEAK_REPORT");
    ::unsetenv("NMLEAK_FAIL_ON_LEAK");
    EXPECT_EQ(r.status, 0) << r.err;
    nm::model::Snapshot back;
    std::string error;
    ASSERT_TRUE(nm::snapshot_io::read_file(input, &back, &error)) << error;
    EXPECT_EQ(back.experts.size(), nm::test::sample_snapshot().experts.size());
}

} // namespace

// test_report_validators.cpp - reports pass external validators: SARIF multitool, JSON Schema (Ajv).
//
// tests/tools/sarif-validate.sh installs @microsoft/sarif-multitool from the npm registry into
// $NM_BUILD_DIR/tools/sarif-multitool (or $NMLEAK_SARIF_TOOL_DIR) on first use;
// tests/tools/json-schema-validate.sh installs Ajv into $NM_BUILD_DIR/tools/ajv (or
// $NMLEAK_AJV_DIR). When a tool cannot be installed or run (no npm, no registry access, not
// x86-64), its test is skipped with the script's exact reason.
#include <nmleak/report.hpp>
#include <nmleak/report_diff.hpp>

#include "unit/report_sample.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::string shell_quote(const std::string &s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

struct Result {
    int status = -1;
    std::string output;
};

Result run(const std::string &command) {
    Result r;
    FILE *p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

std::string write_report(const fs::path &dir, const std::string &name, const nm::model::Snapshot &s,
                         nm::report::Format f, const nm::report::Options &o = {}) {
    const std::string path = (dir / name).string();
    std::ofstream out(path);
    std::string error;
    EXPECT_TRUE(nm::report::write(out, s, f, o, &error)) << error;
    return path;
}

std::string write_sarif(const fs::path &dir, const std::string &name, const nm::model::Snapshot &s,
                        const nm::report::Options &o = {}) {
    return write_report(dir, name, s, nm::report::Format::Sarif, o);
}

std::string tool_dir(const char *env, const char *name) {
    const char *v = std::getenv(env);
    return v && *v ? v : std::string(NM_BUILD_DIR) + "/tools/" + name;
}

// Snapshots with names that need escaping, invalid UTF-8 and unusual paths.
nm::model::Snapshot odd_snapshot() {
    auto odd = nm::test::sample_snapshot();
    odd.experts[0].name = "quotes \" and <tags> & \xc3\xa9 \x01 tab\t";
    odd.experts[1].name = "bad utf8 \xff\xfe";
    odd.frames[0].file = "/src/dir with spaces/#hash?.cpp";
    odd.frames[0].function = "operator new[](unsigned long)";
    return odd;
}

TEST(SarifMultitool, ReportsValidate) {
    const fs::path dir = fs::path(NM_TEST_BINARY_DIR) / ("sarif-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::vector<std::string> files;
    files.push_back(write_sarif(dir, "sample.sarif", nm::test::sample_snapshot()));
    nm::report::Options rooted;
    rooted.source_root = "/src";
    files.push_back(write_sarif(dir, "rooted.sarif", nm::test::sample_snapshot(), rooted));
    files.push_back(write_sarif(dir, "empty.sarif", nm::model::Snapshot{}));
    files.push_back(write_sarif(dir, "odd.sarif", odd_snapshot()));
    // Capped: the notice in the invocation must be valid SARIF too.
    nm::report::Options capped;
    capped.sarif_max_results = 2;
    files.push_back(write_sarif(dir, "capped.sarif", nm::test::sample_snapshot(), capped));

    std::string cmd = shell_quote(std::string(NM_SOURCE_DIR) + "/tests/tools/sarif-validate.sh") +
                      " --tool-dir " + shell_quote(tool_dir("NMLEAK_SARIF_TOOL_DIR", "sarif-multitool"));
    for (const auto &f : files) cmd += " " + shell_quote(f);
    Result r = run(cmd);
    std::printf("%s", r.output.c_str());
    if (r.status == 77) GTEST_SKIP() << r.output;
    EXPECT_EQ(r.status, 0) << r.output;
    // Every file was really analyzed (the multitool skips unknown extensions silently).
    for (const auto &f : files)
        EXPECT_NE(r.output.find(f + ": 0 error(s)"), std::string::npos) << f << "\n" << r.output;
    fs::remove_all(dir);
}

TEST(JsonSchema, ReportsMatchReportSchemaJson) {
    const fs::path dir = fs::path(NM_TEST_BINARY_DIR) / ("schema-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    using nm::report::Format;
    nm::report::Suppressions sup;
    std::string error;
    ASSERT_TRUE(sup.add_text("leak:libssl\nleak:nothing_matches\n", "t.supp", &error)) << error;
    nm::report::Options suppressed;
    suppressed.suppressions = &sup;
    std::vector<std::string> reports = {
        write_report(dir, "sample.json", nm::test::sample_snapshot(), Format::Json),
        write_report(dir, "suppressed.json", nm::test::sample_snapshot(), Format::Json, suppressed),
        write_report(dir, "empty.json", nm::model::Snapshot{}, Format::Json),
        write_report(dir, "odd.json", odd_snapshot(), Format::Json),
    };
    nm::report::Options budgets;
    std::string why;
    for (const char *b : {"http=4K", "*=1M", "no-such-key=1"}) {
        nm::report::Budget budget;
        ASSERT_TRUE(nm::report::parse_budget(b, &budget, &why)) << why;
        budgets.budgets.push_back(budget);
    }
    reports.push_back(write_report(dir, "budgets.json", nm::test::sample_snapshot(), Format::Json, budgets));
    auto after = nm::test::sample_snapshot();
    after.experts[0].cleanups[0].stacks[0] = {1, 4, 8192};
    const std::string diff_path = (dir / "diff.json").string();
    {
        auto before = nm::test::sample_snapshot();
        std::ofstream out(diff_path);
        nm::report::write_diff_json(out, nm::report::diff(before, after));
    }
    const std::string script = shell_quote(std::string(NM_SOURCE_DIR) + "/tests/tools/json-schema-validate.sh") +
                               " --tool-dir " + shell_quote(tool_dir("NMLEAK_AJV_DIR", "ajv"));
    const std::string schema = shell_quote(std::string(NM_SOURCE_DIR) + "/core/src/report/report.schema.json");
    std::string cmd = script + " " + schema;
    for (const auto &f : reports) cmd += " " + shell_quote(f);
    Result r = run(cmd);
    std::printf("%s", r.output.c_str());
    if (r.status == 77) GTEST_SKIP() << r.output;
    EXPECT_EQ(r.status, 0) << r.output;
    Result d = run(script + " --def diff " + schema + " " + shell_quote(diff_path));
    std::printf("%s", d.output.c_str());
    EXPECT_EQ(d.status, 0) << d.output;
    fs::remove_all(dir);
}

} // namespace

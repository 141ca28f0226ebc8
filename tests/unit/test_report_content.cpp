// test_report_content.cpp - a known allocation site is found, by function and file, in the text
// and JSON reports: written on demand (NmWriteReport) and at exit (NMLEAK_REPORT).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "netmon.h"
#include "nmhost.h"

namespace {

namespace fs = std::filesystem;

__attribute__((noinline)) void *parse_conversation_record(HEXPERTKEY key) {
    void *p = ExpertAllocMemory(key, 4096, nullptr);
    asm volatile("" ::: "memory");
    return p;
}

std::string slurp(const fs::path &p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

fs::path temp_dir() {
    fs::path d = fs::temp_directory_path() / ("nmleak-report-" + std::to_string(getpid()));
    fs::create_directories(d);
    return d;
}

void leak_three_blocks(const char *name) {
    HEXPERTKEY k = NmOpenExpertKey(name);
    int n = 3;
    asm("" : "+r"(n)); // an opaque count: one call site, not an unrolled three
    for (int i = 0; i < n; ++i) parse_conversation_record(k);
    NMCLEANUPINFO info{};
    ASSERT_EQ(NmCloseExpertKey(k, NM_OUTCOME_DONE, &info), DWORD(NMERR_SUCCESS));
    ASSERT_EQ(info.Blocks, 3u);
}

void expect_reports_name_the_site(const fs::path &text_path, const fs::path &json_path, const std::string &expert) {
    std::string text = slurp(text_path);
    EXPECT_NE(text.find("parse_conversation_record"), std::string::npos) << text;
    EXPECT_NE(text.find("test_report_content.cpp"), std::string::npos) << text;
    EXPECT_NE(text.find("12288"), std::string::npos) << "3 x 4096 bytes\n" << text;

    nlohmann::json j = nlohmann::json::parse(slurp(json_path));
    bool found = false;
    for (const auto &e : j.at("experts")) {
        if (e.at("name") != expert) continue;
        for (const auto &leak : e.at("leaks")) {
            if (leak.at("bytes") != 12288) continue;
            EXPECT_EQ(leak.at("count"), 3);
            const auto &top = leak.at("stack").at(0);
            EXPECT_NE(top.at("function").get<std::string>().find("parse_conversation_record"), std::string::npos);
            EXPECT_EQ(fs::path(top.at("file").get<std::string>()).filename(), "test_report_content.cpp");
            EXPECT_GT(top.at("line").get<int>(), 0);
            found = true;
        }
    }
    EXPECT_TRUE(found) << j.dump(2);
}

TEST(ReportContent, OnDemandReportsNameTheAllocatingFunctionAndFile) {
    leak_three_blocks("report-on-demand");
    fs::path d = temp_dir();
    ASSERT_EQ(NmWriteReport((d / "r.txt").c_str(), "text"), DWORD(NMERR_SUCCESS));
    ASSERT_EQ(NmWriteReport((d / "r.json").c_str(), nullptr), DWORD(NMERR_SUCCESS)) << "format from the extension";
    expect_reports_name_the_site(d / "r.txt", d / "r.json", "report-on-demand");
    EXPECT_NE(NmWriteReport((d / "r.txt").c_str(), "bogus"), DWORD(NMERR_SUCCESS));
    EXPECT_NE(NmWriteReport("/nonexistent-dir/r.txt", "text"), DWORD(NMERR_SUCCESS));
    EXPECT_NE(NmWriteReport(nullptr, "text"), DWORD(NMERR_SUCCESS));
    fs::remove_all(d);
}

// The child that AtExitReportFromEnvironment re-executes: before main, it leaks and exits
// normally, so libnmapi's exit hook (installed from the environment at load) writes the report.
const int g_child = [] {
    if (std::getenv("NM_REPORT_CHILD")) {
        leak_three_blocks("report-at-exit");
        std::exit(0);
    }
    return 0;
}();

TEST(ReportContent, AtExitReportFromEnvironment) {
    fs::path d = temp_dir();
    for (const char *ext : {"txt", "json"}) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            std::string report = (d / (std::string("exit.") + ext)).string();
            setenv("NMLEAK_REPORT", report.c_str(), 1);
            setenv("NM_REPORT_CHILD", "1", 1);
            execl("/proc/self/exe", "child", nullptr);
            _exit(127);
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0) << "without NMLEAK_FAIL_ON_LEAK the program's own status stays";
    }
    expect_reports_name_the_site(d / "exit.txt", d / "exit.json", "report-at-exit");

    // With NMLEAK_FAIL_ON_LEAK=1 the leaks decide the exit status.
    pid_t pid = fork();
    if (pid == 0) {
        setenv("NMLEAK_FAIL_ON_LEAK", "1", 1);
        setenv("NM_REPORT_CHILD", "1", 1);
        unsetenv("NMLEAK_REPORT");
        execl("/proc/self/exe", "child", nullptr);
        _exit(127);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 23);
    fs::remove_all(d);
}

} // namespace

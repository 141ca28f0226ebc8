// test_report_writers.cpp - golden-file tests of the text, JSON, SARIF and folded report writers.
#include <nmleak/report.hpp>

#include "unit/golden.hpp"
#include "unit/report_sample.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

using nm::report::Format;

namespace {

std::string render(const nm::model::Snapshot &s, Format f, const nm::report::Options &o = {}) {
    std::ostringstream out;
    std::string error;
    EXPECT_TRUE(nm::report::write(out, s, f, o, &error)) << error;
    return out.str();
}

nm::report::Options with(const nm::report::Suppressions *sup) {
    nm::report::Options o;
    o.suppressions = sup;
    return o;
}

nm::report::Suppressions sample_suppressions() {
    nm::report::Suppressions sup;
    std::string error;
    EXPECT_TRUE(sup.add_text("# third-party code we do not own\n"
                             "leak:libssl.so*\n"
                             "\n"
                             "  leak:^dns_cache_insert$  \n"
                             "leak:function_that_does_not_exist\n",
                             "sample.supp", &error))
        << error;
    return sup;
}

TEST(ReportGolden, Text) {
    nm::test::expect_golden("report.txt.expected", render(nm::test::sample_snapshot(), Format::Text));
}

TEST(ReportGolden, Json) {
    nm::test::expect_golden("report.json.expected", render(nm::test::sample_snapshot(), Format::Json));
}

TEST(ReportGolden, Sarif) {
    nm::test::expect_golden("report.sarif.expected",
                            render(nm::test::sample_snapshot(), Format::Sarif));
}

TEST(ReportGolden, Folded) {
    nm::test::expect_golden("report.folded.expected",
                            render(nm::test::sample_snapshot(), Format::Folded));
}

TEST(ReportGolden, TextWithSuppressions) {
    auto sup = sample_suppressions();
    nm::test::expect_golden("report-suppressed.txt.expected",
                            render(nm::test::sample_snapshot(), Format::Text, with(&sup)));
}

TEST(ReportGolden, JsonWithSuppressions) {
    auto sup = sample_suppressions();
    nm::test::expect_golden("report-suppressed.json.expected",
                            render(nm::test::sample_snapshot(), Format::Json, with(&sup)));
}

TEST(ReportJson, HasTheSchemaFieldsAndKeepsOutstandingApart) {
    auto doc = nlohmann::json::parse(render(nm::test::sample_snapshot(), Format::Json));
    EXPECT_EQ(doc["version"], nm::report::kJsonVersion);
    ASSERT_TRUE(doc["process"].is_object());
    ASSERT_EQ(doc["experts"].size(), 8u);
    for (const auto &e : doc["experts"])
        for (const char *k : {"name", "state", "outstanding_blocks", "outstanding_bytes", "peak_bytes",
                              "allocs", "frees", "reallocs", "cleanups", "leaks", "misuse"})
            EXPECT_TRUE(e.contains(k)) << k;
    const auto &http = doc["experts"][0];
    ASSERT_EQ(http["leaks"].size(), 2u);
    EXPECT_EQ(http["leaks"][0]["bytes"], 4096);
    EXPECT_EQ(http["leaks"][0]["outstanding"], false);
    EXPECT_TRUE(http["leaks"][0]["size"].is_null()); // two blocks from a cleanup: sizes unknown
    EXPECT_EQ(http["leaks"][1]["size"], 100);
    EXPECT_EQ(http["leaks"][0]["stack"][0]["line"], 42);
    const auto &dns = doc["experts"][1];
    ASSERT_EQ(dns["leaks"].size(), 2u);
    EXPECT_EQ(dns["leaks"][0]["outstanding"], true);
    EXPECT_EQ(dns["leaks"][0]["count"], 3);
    EXPECT_EQ(dns["leaks"][0]["min_size"], 64);
    EXPECT_EQ(dns["leaks"][0]["max_size"], 128);
    // A forced cleanup is a cleanup, not a leak.
    const auto &crashy = doc["experts"][2];
    EXPECT_TRUE(crashy["leaks"].empty());
    ASSERT_EQ(crashy["cleanups"].size(), 1u);
    EXPECT_EQ(crashy["cleanups"][0]["reason"], "crashed");
    EXPECT_EQ(crashy["crash"]["signal_name"], "SIGSEGV");
    EXPECT_EQ(doc["summary"]["leaked"]["bytes"], 4096 + 100 + 256 + 500);
    EXPECT_EQ(doc["summary"]["outstanding"]["bytes"], 288 + 2048);
}

TEST(ReportSarif, OneResultPerLeakingStack) {
    auto doc = nlohmann::json::parse(render(nm::test::sample_snapshot(), Format::Sarif));
    EXPECT_EQ(doc["version"], "2.1.0");
    const auto &results = doc["runs"][0]["results"];
    auto report = nm::report::build_report(nm::test::sample_snapshot());
    ASSERT_EQ(results.size(), report.leaks.size());
    const auto &top = results[0];
    EXPECT_EQ(top["ruleId"], "NMLEAK1001");
    const auto &phys = top["locations"][0]["physicalLocation"];
    EXPECT_EQ(phys["artifactLocation"]["uri"], "file:///src/experts/http/parser.cpp");
    EXPECT_EQ(phys["region"]["startLine"], 42);
    // The code flow runs outermost to innermost, ending at the allocating frame.
    const auto &flow = top["codeFlows"][0]["threadFlows"][0]["locations"];
    ASSERT_EQ(flow.size(), 4u);
    EXPECT_EQ(flow[3]["location"]["physicalLocation"]["region"]["startLine"], 42);
}

TEST(ReportFolded, OutermostFirstRootedAtTheExpert) {
    std::string folded = render(nm::test::sample_snapshot(), Format::Folded);
    // Both "http" keys leak from stack 1: one line, 4096 + 2048 bytes.
    EXPECT_NE(folded.find("http;start_thread;run_expert_thread;http_run;"
                          "http::Parser::parse(unsigned char const*, unsigned long) 6144\n"),
              std::string::npos)
        << folded;
    for (std::string_view rest = folded; !rest.empty();) {
        std::string_view line = rest.substr(0, rest.find('\n'));
        rest.remove_prefix(line.size() + 1);
        size_t sp = line.rfind(' ');
        ASSERT_NE(sp, std::string_view::npos) << line;
        EXPECT_GT(std::stoull(std::string(line.substr(sp + 1))), 0u) << line;
    }
}

TEST(ReportWriters, EmptySnapshotGivesACleanReport) {
    nm::model::Snapshot empty;
    std::string text = render(empty, Format::Text);
    EXPECT_NE(text.find("no unsuppressed leaks"), std::string::npos) << text;
    EXPECT_NE(text.find("SUMMARY: nmleak: 0 bytes leaked"), std::string::npos) << text;
    auto json = nlohmann::json::parse(render(empty, Format::Json));
    EXPECT_TRUE(json["experts"].empty());
    auto sarif = nlohmann::json::parse(render(empty, Format::Sarif));
    EXPECT_TRUE(sarif["runs"][0]["results"].empty());
    EXPECT_EQ(render(empty, Format::Folded), "");
}

// A snapshot assembled by hand (or damaged in memory) may hold ids that point nowhere: the writers
// must print them, not crash.
TEST(ReportWriters, DanglingIdsDoNotCrash) {
    nm::model::Snapshot s = nm::test::sample_snapshot();
    s.stacks[1].frames.push_back(9999);
    s.experts[1].blocks.push_back({0x1000, 8, 777, 0, nm::model::BlockOrigin::Api, nm::model::Reach::Unknown});
    s.experts[0].misuse[0].stack = 4242;
    s.experts[2].crash_stack = 31337;
    s.experts[0].name = "bad\xff\xfe utf8;name\n";
    for (Format f : {Format::Text, Format::Json, Format::Sarif, Format::Folded}) {
        std::string out = render(s, f);
        EXPECT_FALSE(out.empty());
    }
    std::string text = render(s, Format::Text);
    EXPECT_NE(text.find("<invalid frame>"), std::string::npos);
    EXPECT_NE(text.find("<invalid stack 777>"), std::string::npos);
    nlohmann::json parsed;
    EXPECT_NO_THROW(parsed = nlohmann::json::parse(render(s, Format::Json)));
    EXPECT_EQ(parsed["experts"].size(), s.experts.size());
}

TEST(ReportWriters, BiggestFirst) {
    auto r = nm::report::build_report(nm::test::sample_snapshot());
    for (size_t i = 1; i < r.leaks.size(); ++i) EXPECT_GE(r.leaks[i - 1].bytes, r.leaks[i].bytes);
}

TEST(ReportSarif, SourceRootGivesRelativeUris) {
    nm::report::Options o;
    o.source_root = "/src";
    auto doc = nlohmann::json::parse(render(nm::test::sample_snapshot(), Format::Sarif, o));
    const auto &run = doc["runs"][0];
    EXPECT_EQ(run["originalUriBaseIds"]["SRCROOT"]["uri"], "file:///src/");
    const auto &art = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    EXPECT_EQ(art["uri"], "experts/http/parser.cpp");
    EXPECT_EQ(art["uriBaseId"], "SRCROOT");
    // Outside the root: still absolute. Spaces are percent-encoded.
    bool saw_space = false;
    for (const auto &r : run["results"])
        for (const auto &l : r["locations"])
            if (l.contains("physicalLocation") &&
                l["physicalLocation"]["artifactLocation"]["uri"] == "experts/dns/cache%20c.c")
                saw_space = true;
    EXPECT_TRUE(saw_space);
}

TEST(ReportSarif, FramesWithoutLineUseModuleAndOffset) {
    auto doc = nlohmann::json::parse(render(nm::test::sample_snapshot(), Format::Sarif));
    // tls-wrapper's leak: SSL_new has no source file.
    for (const auto &r : doc["runs"][0]["results"]) {
        if (r["properties"]["expert"] != "tls-wrapper") continue;
        const auto &loc = r["locations"][0];
        EXPECT_FALSE(loc.contains("physicalLocation"));
        EXPECT_EQ(loc["logicalLocations"][0]["name"], "SSL_new");
        EXPECT_EQ(loc["logicalLocations"][1]["name"], "libssl.so.3+0x1000");
        EXPECT_EQ(loc["logicalLocations"][1]["fullyQualifiedName"],
                  "/usr/lib/x86_64-linux-gnu/libssl.so.3+0x1000");
        return;
    }
    ADD_FAILURE() << "no tls-wrapper result";
}

} // namespace

// test_report_model.cpp - leak groups, suppressions, exit codes and report files.
#include <nmleak/report.hpp>
#include <nmleak/snapshot_io.hpp>

#include "unit/golden.hpp"
#include "unit/report_sample.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>

using nm::report::LeakKind;
using nm::report::Suppressions;

namespace {

std::string temp_path(const std::string &name) {
    return std::string(NM_TEST_BINARY_DIR) + "/" + name + "." + std::to_string(::getpid());
}

TEST(LeakModel, GroupsByKindKeyAndStack) {
    auto s = nm::test::sample_snapshot();
    auto r = nm::report::build_report(s);
    // http#1 (2 stacks), tls-wrapper, sizes-only (remainder on stack 0), dns (2), http#5.
    ASSERT_EQ(r.leaks.size(), 7u);
    EXPECT_EQ(r.leaked.stacks, 4u);
    EXPECT_EQ(r.leaked.bytes, 4096u + 100 + 256 + 500);
    EXPECT_EQ(r.outstanding.stacks, 3u);
    EXPECT_EQ(r.outstanding.bytes, 288u + 2048);
    EXPECT_EQ(r.leaks[0].bytes, 4096u);
    EXPECT_EQ(r.leaks[0].kind, LeakKind::Leaked);
    // Forced cleanups (crashy, slowpoke) are not leaks; the empty close of "quiet" is nothing.
    for (const auto &g : r.leaks) {
        const auto &name = s.experts[g.expert].name;
        EXPECT_NE(name, "crashy");
        EXPECT_NE(name, "slowpoke");
        EXPECT_NE(name, "quiet");
    }
    const auto &sizes_only = r.experts[6];
    EXPECT_EQ(sizes_only.leaked.blocks, 5u);
    EXPECT_EQ(sizes_only.leaked.bytes, 500u);
}

TEST(Suppressions, PatternsFollowLeakSanitizer) {
    auto m = &Suppressions::pattern_matches;
    EXPECT_TRUE(m("cache", "dns_cache_insert"));  // unanchored: a substring matches
    EXPECT_TRUE(m("dns_*_insert", "dns_cache_insert"));
    EXPECT_TRUE(m("^dns_", "dns_cache_insert"));
    EXPECT_FALSE(m("^cache", "dns_cache_insert"));
    EXPECT_TRUE(m("insert$", "dns_cache_insert"));
    EXPECT_FALSE(m("cache$", "dns_cache_insert"));
    EXPECT_TRUE(m("^dns_cache_insert$", "dns_cache_insert"));
    EXPECT_TRUE(m("ab$", "abab"));                 // greedy-first matching would miss this
    EXPECT_TRUE(m("*", "x"));
    EXPECT_FALSE(m("*", ""));                      // an unknown (empty) name never matches
    EXPECT_TRUE(m("libssl.so*", "/usr/lib/x86_64-linux-gnu/libssl.so.3"));
    EXPECT_TRUE(m("a*b*c", "xxaYYbZZcxx"));
    EXPECT_FALSE(m("a*b*c", "xxaYYcZZbxx"));
}

TEST(Suppressions, ParseErrorsNameTheLine) {
    Suppressions sup;
    std::string error;
    EXPECT_FALSE(sup.add_text("leak:ok\nnot a rule\n", "f.supp", &error));
    EXPECT_EQ(error, "f.supp:2: expected 'leak:PATTERN', got 'not a rule'");
    EXPECT_FALSE(sup.add_text("# c\nrace:foo\n", "f.supp", &error));
    EXPECT_EQ(error, "f.supp:2: unsupported suppression type 'race' (nmleak understands only 'leak:')");
    EXPECT_FALSE(sup.add_text("leak:   \n", "f.supp", &error));
    EXPECT_EQ(error, "f.supp:1: empty pattern after 'leak:'");
    EXPECT_TRUE(sup.empty()); // a text with an error adds nothing
    EXPECT_TRUE(sup.add_text("\n# only comments\n\r\n", "f.supp", &error));
    EXPECT_TRUE(sup.empty());
}

TEST(Suppressions, FileErrors) {
    Suppressions sup;
    std::string error;
    EXPECT_FALSE(sup.add_file("/nonexistent.supp", &error));
    EXPECT_NE(error.find("/nonexistent.supp"), std::string::npos) << error;
    EXPECT_FALSE(sup.add_file(NM_TEST_BINARY_DIR, &error));
    EXPECT_NE(error.find("directory"), std::string::npos) << error;
    std::string bin = temp_path("binary.supp");
    std::ofstream(bin) << std::string("leak:a\0b", 8);
    EXPECT_FALSE(sup.add_file(bin, &error));
    EXPECT_NE(error.find("not a text file"), std::string::npos) << error;
    ::unlink(bin.c_str());
}

TEST(Suppressions, AppliedAndCounted) {
    auto s = nm::test::sample_snapshot();
    Suppressions sup;
    std::string error;
    ASSERT_TRUE(sup.add_text("leak:libssl\nleak:^dns_cache_insert$\nleak:matches_nothing_at_all\n",
                             "t", &error));
    nm::report::Options options;
    options.suppressions = &sup;
    auto r = nm::report::build_report(s, options);
    ASSERT_EQ(r.rule_use.size(), 3u);
    EXPECT_EQ(r.rule_use[0].stacks, 1u); // tls-wrapper's SSL_new leak, matched by module
    EXPECT_EQ(r.rule_use[0].bytes, 256u);
    EXPECT_EQ(r.rule_use[1].stacks, 1u); // dns's three blocks from dns_cache_insert
    EXPECT_EQ(r.rule_use[1].blocks, 3u);
    EXPECT_EQ(r.rule_use[2].stacks, 0u);
    EXPECT_EQ(r.suppressed_total.stacks, 2u);
    EXPECT_EQ(r.suppressed.size(), 2u);
    EXPECT_EQ(r.leaks.size(), 5u);
    for (const auto &g : r.leaks) EXPECT_EQ(g.suppressed_by, -1);
    auto count = nm::report::count_leaks(s, &sup);
    EXPECT_EQ(count.unsuppressed(), 5u);
    EXPECT_EQ(count.suppressed.bytes, 256u + 256);
}

TEST(ExitCodes, FailOnLeak) {
    auto s = nm::test::sample_snapshot();
    auto count = nm::report::count_leaks(s);
    EXPECT_EQ(nm::report::exit_code_for(count, false), nm::report::kExitOk);
    EXPECT_EQ(nm::report::exit_code_for(count, true), nm::report::kExitLeaks);
    Suppressions all;
    std::string error;
    ASSERT_TRUE(all.add_text("leak:*", "t", &error));
    // Stack 0 (sizes-only) has no frame to match: it stays a leak; drop that key to get to zero.
    s.experts.erase(s.experts.begin() + 6);
    EXPECT_EQ(nm::report::exit_code_for(nm::report::count_leaks(s, &all), true), nm::report::kExitOk);
    EXPECT_EQ(nm::report::kExitLeaks, 23);
}

TEST(ExitCodes, SettingsFromEnvironment) {
    std::string supp = temp_path("env.supp");
    std::ofstream(supp) << "leak:*\n";
    nm::report::EnvSettings st;
    std::string error;
    ::unsetenv("NMLEAK_FAIL_ON_LEAK");
    ::unsetenv("NMLEAK_SUPPRESSIONS");
    ASSERT_TRUE(nm::report::settings_from_env(&st, &error));
    EXPECT_FALSE(st.fail_on_leak);
    EXPECT_EQ(nm::report::exit_code_for(nm::test::sample_snapshot(), st), 0);

    ::setenv("NMLEAK_FAIL_ON_LEAK", "1", 1);
    ASSERT_TRUE(nm::report::settings_from_env(&st, &error));
    EXPECT_TRUE(st.fail_on_leak);
    EXPECT_EQ(nm::report::exit_code_for(nm::test::sample_snapshot(), st), 23);

    ::setenv("NMLEAK_SUPPRESSIONS", supp.c_str(), 1);
    ASSERT_TRUE(nm::report::settings_from_env(&st, &error)) << error;
    EXPECT_EQ(st.suppressions.rules().size(), 1u);
    auto s = nm::test::sample_snapshot();
    s.experts.erase(s.experts.begin() + 6);
    EXPECT_EQ(nm::report::exit_code_for(s, st), 0);

    ::setenv("NMLEAK_SUPPRESSIONS", "/nonexistent.supp", 1);
    EXPECT_FALSE(nm::report::settings_from_env(&st, &error));
    EXPECT_NE(error.find("NMLEAK_SUPPRESSIONS"), std::string::npos) << error;
    EXPECT_TRUE(st.fail_on_leak); // the rest of the settings still apply

    ::setenv("NMLEAK_FAIL_ON_LEAK", "maybe", 1);
    ::unsetenv("NMLEAK_SUPPRESSIONS");
    EXPECT_FALSE(nm::report::settings_from_env(&st, &error));
    EXPECT_NE(error.find("maybe"), std::string::npos) << error;
    ::unsetenv("NMLEAK_FAIL_ON_LEAK");
    ::unlink(supp.c_str());
}

TEST(WriteFile, FormatsFromNameOrExtension) {
    using nm::report::Format;
    EXPECT_EQ(nm::report::format_for_path("a/b/report.txt"), Format::Text);
    EXPECT_EQ(nm::report::format_for_path("r.json"), Format::Json);
    EXPECT_EQ(nm::report::format_for_path("r.sarif"), Format::Sarif);
    EXPECT_EQ(nm::report::format_for_path("r.sarif.json"), Format::Sarif);
    EXPECT_EQ(nm::report::format_for_path("r.folded"), Format::Folded);
    EXPECT_EQ(nm::report::format_for_path("r.nmsnap"), Format::Snapshot);
    EXPECT_FALSE(nm::report::format_for_path("report"));
    EXPECT_FALSE(nm::report::format_for_path(".json"));
    EXPECT_EQ(nm::report::parse_format("sarif"), Format::Sarif);
    EXPECT_FALSE(nm::report::parse_format("xml"));
}

TEST(WriteFile, WritesEveryFormatAndRefusesBadRequests) {
    auto s = nm::test::sample_snapshot();
    std::string error;
    for (const char *ext : {".txt", ".json", ".sarif", ".folded", ".nmsnap"}) {
        std::string path = temp_path("out") + ext;
        ASSERT_TRUE(nm::report::write_file(s, path, "", &error)) << ext << ": " << error;
        std::string content;
        ASSERT_TRUE(nm::test::read_text(path, &content));
        EXPECT_FALSE(content.empty()) << ext;
        if (std::string(ext) == ".nmsnap") {
            nm::model::Snapshot back;
            EXPECT_TRUE(nm::snapshot_io::read_file(path, &back, &error)) << error;
        }
        ::unlink(path.c_str());
    }
    std::string path = temp_path("out.weird");
    EXPECT_FALSE(nm::report::write_file(s, path, "", &error));
    EXPECT_NE(error.find("cannot tell the report format"), std::string::npos) << error;
    EXPECT_FALSE(nm::report::write_file(s, path, "xml", &error));
    EXPECT_NE(error.find("unknown report format 'xml'"), std::string::npos) << error;
    EXPECT_FALSE(nm::report::write_file(s, "/nonexistent/dir/r.txt", "", &error));
    EXPECT_NE(error.find("/nonexistent/dir/r.txt"), std::string::npos) << error;
    EXPECT_FALSE(nm::report::write_file(s, NM_TEST_BINARY_DIR, "text", &error));
    EXPECT_NE(error.find("directory"), std::string::npos) << error;
    // The explicit format wins over the extension.
    path = temp_path("explicit.txt");
    ASSERT_TRUE(nm::report::write_file(s, path, "json", &error)) << error;
    std::string content;
    ASSERT_TRUE(nm::test::read_text(path, &content));
    EXPECT_EQ(content.front(), '{');
    ::unlink(path.c_str());
}

} // namespace

// test_report_budgets.cpp - CI budgets: `nmleak report --limit` and `nmleak run --limit`, under,
// at and over, on a program with known leaks (tests/support/leak_sites.cpp):
//   leaky   4396 bytes leaked at its close (3 x 100 from leak_site_alpha, 4096 from leak_site_beta)
//   holder   448 bytes still held at exit (an open key)
//   crashy  1024 bytes reclaimed by a forced cleanup: not a leak
//   tidy       0 bytes
#include <nmleak/report.hpp>

#include "unit/golden.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <fstream>

namespace fs = std::filesystem;

namespace {

std::string quote(const std::string &s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

struct Result {
    int status = -1;
    std::string out, err;
};

class Budgets : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/nmleak-budgets-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        snapshot_ = dir_ / "sites.nmsnap";
        const Result r = sh("NMLEAK_REPORT=" + quote(snapshot_.string()) + " " + quote(NMT_LEAK_SITES));
        ASSERT_EQ(r.status, 0) << r.err;
        ASSERT_TRUE(fs::exists(snapshot_));
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    Result sh(const std::string &command) {
        Result r;
        const fs::path out = dir_ / "out", err = dir_ / "err";
        const int st = std::system((command + " >" + quote(out.string()) + " 2>" + quote(err.string())).c_str());
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        nm::test::read_text(out.string(), &r.out);
        nm::test::read_text(err.string(), &r.err);
        return r;
    }

    static std::string nmleak() { return quote(std::string(NM_BUILD_DIR) + "/inject/nmleak"); }

    Result report(const std::string &args) {
        return sh(nmleak() + " report " + quote(snapshot_.string()) + " " + args);
    }

    fs::path dir_, snapshot_;
};

TEST_F(Budgets, UnderAtAndOver) {
    Result under = report("--limit leaky=5K");
    EXPECT_EQ(under.status, 0) << under.err;
    EXPECT_NE(under.out.find("Budgets (all met):"), std::string::npos) << under.out;
    EXPECT_NE(under.out.find("ok    key 'leaky' leaked 4396 bytes, within its budget of 5120 (--limit leaky=5K)"),
              std::string::npos)
        << under.out;

    Result at = report("--limit leaky=4396");
    EXPECT_EQ(at.status, 0) << at.err;
    EXPECT_EQ(at.err.find("over budget"), std::string::npos) << at.err;

    Result over = report("--limit leaky=4395");
    EXPECT_EQ(over.status, 23) << over.err;
    EXPECT_NE(over.out.find("OVER  key 'leaky' leaked 4396 bytes, 1 over its budget of 4395"), std::string::npos)
        << over.out;
    EXPECT_NE(over.out.find("BUDGET: nmleak: 1 key over budget"), std::string::npos) << over.out;
    EXPECT_NE(over.err.find("nmleak: over budget: key 'leaky' leaked 4396 bytes, 1 over its budget of 4395"),
              std::string::npos)
        << over.err;
}

TEST_F(Budgets, StillHeldAtExitCountsForcedCleanupsDoNot) {
    EXPECT_EQ(report("--limit holder=448").status, 0);
    Result over = report("--limit holder=447");
    EXPECT_EQ(over.status, 23);
    EXPECT_NE(over.err.find("key 'holder' leaked 448 bytes, 1 over"), std::string::npos) << over.err;
    // A forced cleanup is not a leak; a key that freed everything leaked nothing.
    EXPECT_EQ(report("--limit crashy=0 --limit tidy=0").status, 0);
}

TEST_F(Budgets, GlobsHoldEveryMatchingKeyToTheBudget) {
    Result r = report("--limit '*=1K' -f json");
    EXPECT_EQ(r.status, 23) << r.err;
    const nlohmann::json doc = nlohmann::json::parse(r.out);
    ASSERT_TRUE(doc.contains("budgets")) << r.out.substr(0, 500);
    EXPECT_EQ(doc["budgets_over"], 1);
    std::map<std::string, nlohmann::json> by_key;
    for (const auto &b : doc["budgets"]) by_key[b["key"].get<std::string>()] = b;
    ASSERT_EQ(by_key.size(), 4u) << doc["budgets"].dump(2);
    EXPECT_EQ(by_key["leaky"]["over"], true);
    EXPECT_EQ(by_key["leaky"]["leaked_bytes"], 4396);
    EXPECT_EQ(by_key["leaky"]["budget_bytes"], 1024);
    EXPECT_EQ(by_key["leaky"]["over_by_bytes"], 3372);
    EXPECT_EQ(by_key["leaky"]["limit"], "*=1K");
    EXPECT_EQ(by_key["holder"]["over"], false);
    EXPECT_EQ(by_key["holder"]["leaked_bytes"], 448);
    EXPECT_EQ(by_key["crashy"]["leaked_bytes"], 0);

    // A budget that matches nothing is said so, not silently passed.
    Result none = report("--limit 'htpp*=1'");
    EXPECT_EQ(none.status, 0);
    EXPECT_NE(none.out.find("budget --limit htpp*=1 matched no key"), std::string::npos) << none.out;
    // Without budgets the JSON report keeps its shape.
    EXPECT_FALSE(nlohmann::json::parse(report("-f json").out).contains("budgets"));
}

TEST_F(Budgets, SuppressedLeaksDoNotCount) {
    std::ofstream(dir_ / "sup.txt") << "leak:leak_site_beta\n";
    const std::string sup = "-s " + quote((dir_ / "sup.txt").string());
    EXPECT_EQ(report(sup + " --limit leaky=300").status, 0);
    Result over = report(sup + " --limit leaky=299");
    EXPECT_EQ(over.status, 23);
    EXPECT_NE(over.err.find("key 'leaky' leaked 300 bytes, 1 over its budget of 299"), std::string::npos) << over.err;
}

TEST_F(Budgets, BadLimitsAreUsageErrors) {
    for (const char *bad : {"leaky", "=4K", "leaky=4Q", "leaky=", "leaky=-1", "leaky=99999999999999999999"}) {
        Result r = report(std::string("--limit ") + quote(bad));
        EXPECT_EQ(r.status, 1) << bad;
        EXPECT_NE(r.err.find("--limit"), std::string::npos) << bad << ": " << r.err;
    }
}

TEST_F(Budgets, RunAppliesThemAtExit) {
    const std::string prog = quote(NMT_LEAK_SITES);
    Result under = sh(nmleak() + " run -q --limit leaky=5K --limit holder=448 -- " + prog);
    EXPECT_EQ(under.status, 0) << under.err;
    Result over = sh(nmleak() + " run -q --limit 'leak*=4K' --limit holder=448 -- " + prog);
    EXPECT_EQ(over.status, 23) << over.err;
    EXPECT_NE(over.err.find("nmleak: over budget: key 'leaky' leaked 4396 bytes, 300 over its budget of 4096 "
                            "(--limit leak*=4K)"),
              std::string::npos)
        << over.err;
    EXPECT_EQ(over.err.find("'holder'"), std::string::npos) << over.err;
    // The at-exit report says it too.
    const fs::path json = dir_ / "exit.json";
    Result with_report = sh(nmleak() + " run -q --limit holder=100 --report " + quote(json.string()) + " -- " + prog);
    EXPECT_EQ(with_report.status, 23) << with_report.err;
    std::string text;
    ASSERT_TRUE(nm::test::read_text(json.string(), &text));
    const nlohmann::json doc = nlohmann::json::parse(text);
    ASSERT_EQ(doc["budgets"].size(), 1u);
    EXPECT_EQ(doc["budgets"][0]["key"], "holder");
    EXPECT_EQ(doc["budgets"][0]["over_by_bytes"], 348);
}

TEST(BudgetParsing, Sizes) {
    using nm::report::parse_size;
    EXPECT_EQ(parse_size("0"), 0u);
    EXPECT_EQ(parse_size("4096"), 4096u);
    EXPECT_EQ(parse_size("4K"), 4096u);
    EXPECT_EQ(parse_size("4k"), 4096u);
    EXPECT_EQ(parse_size("4KiB"), 4096u);
    EXPECT_EQ(parse_size("4KB"), 4096u);
    EXPECT_EQ(parse_size("1.5M"), 1572864u);
    EXPECT_EQ(parse_size("2G"), 2147483648u);
    EXPECT_EQ(parse_size("18446744073709551615"), 18446744073709551615u);
    for (const char *bad : {"", "K", "4Q", "1.2.3", "-1", "4 K", "18446744073709551616", "17179869184G"})
        EXPECT_FALSE(parse_size(bad).has_value()) << bad;
    nm::report::Budget b;
    std::string error;
    ASSERT_TRUE(nm::report::parse_budget("a=b=1M", &b, &error)) << error;
    EXPECT_EQ(b.pattern, "a=b");
    EXPECT_EQ(b.limit, 1048576u);
}

} // namespace

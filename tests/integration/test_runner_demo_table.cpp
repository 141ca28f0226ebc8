// test_runner_demo_table.cpp - the demo analyzer's table with a 10 GiB leak: byte counts carry
// units, and every line of the table keeps the header's columns.
#include "agent_support/harness.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace {

TEST(DemoTable, ByteCountsHaveUnitsAndTheColumnsHold) {
    char dir[] = "/tmp/nmt-demo-table-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const nmt::Result r = nmt::run({NMT_DEMO, "--expert", NMT_BIG_EXPERT, "--expert",
                                    NMT_SAMPLE_EXPERT_DIR "/proto_dist.so", "--report-dir", dir});
    nmt::run({"/bin/rm", "-rf", dir});
    if (r.out.find("no room for a 10 GiB block") != std::string::npos)
        GTEST_SKIP() << "this machine has no 10 GiB of address space to give";
    ASSERT_EQ(r.status, 0) << r.out << r.err;

    // The table: the header, a line of dashes, then one line per expert up to the blank line.
    std::istringstream in(r.out);
    std::vector<std::string> table;
    for (std::string line; std::getline(in, line);) {
        if (table.empty() && line.rfind("expert ", 0) != 0) continue;
        if (line.empty() || line[0] == '(') break;
        table.push_back(line);
    }
    ASSERT_GE(table.size(), 4u) << r.out;
    const std::string &header = table[0];
    ASSERT_EQ(table[1].find_first_not_of('-'), std::string::npos) << table[1];
    const std::string *big = nullptr;
    for (const std::string &line : table) {
        EXPECT_EQ(line.size(), header.size()) << "'" << line << "'\nvs '" << header << "'";
        if (line.rfind("big-block ", 0) == 0) big = &line;
    }
    ASSERT_NE(big, nullptr) << r.out;
    EXPECT_NE(big->find("done"), std::string::npos) << *big;
    EXPECT_NE(big->find("10.0 GiB"), std::string::npos) << *big;          // live and peak
    EXPECT_NE(big->find("2 / 10.0 GiB"), std::string::npos) << *big;      // the two leaked blocks
    EXPECT_EQ(big->find("10737418"), std::string::npos) << *big;          // no raw byte count
    // Each header title ends where its column of figures ends (right-aligned columns).
    for (const char *title : {"frames", "live", "peak"}) {
        const size_t end = header.find(std::string(" ") + title + " ") + std::strlen(title) + 1;
        EXPECT_NE((*big)[end - 1], ' ') << title << " in '" << *big << "'";
        EXPECT_EQ((*big)[end], ' ') << title << " in '" << *big << "'";
    }
    EXPECT_EQ(big->substr(big->size() - 3), " ms");
}

} // namespace

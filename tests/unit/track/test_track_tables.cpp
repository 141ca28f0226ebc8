// test_track_tables.cpp - the lane's open-addressing tables: ChunkSet and StackTally.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "track/chunk_set.hpp"
#include "track/tally.hpp"

namespace {

using nm::track::ChunkSet;
using nm::track::StackTally;

TEST(ChunkSet, InsertContainsAppendAcrossGrowth) {
    ChunkSet s;
    EXPECT_FALSE(s.contains(0));
    std::set<uint64_t> want;
    std::mt19937_64 rng(7);
    for (int i = 0; i < 5000; ++i) {
        uint64_t c = rng() >> 20;
        if (i % 10 == 0) c = 0; // chunk 0 is a valid chunk (stored as c + 1)
        ASSERT_TRUE(s.insert(c));
        want.insert(c);
    }
    EXPECT_EQ(s.size(), want.size()) << "duplicates are not counted";
    for (uint64_t c : want) EXPECT_TRUE(s.contains(c)) << c;
    EXPECT_FALSE(s.contains(~uint64_t{0} >> 1));
    std::vector<uint64_t> got;
    s.append_to(got);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, std::vector<uint64_t>(want.begin(), want.end()));
    s.clear();
    EXPECT_EQ(s.size(), 0u);
    EXPECT_FALSE(s.contains(*want.begin()));
    EXPECT_TRUE(s.insert(5));
    EXPECT_TRUE(s.contains(5)) << "usable again after clear";
}

TEST(StackTally, SumsPerStackIncludingNegativeAndZero) {
    StackTally t;
    std::map<uint32_t, std::pair<int64_t, int64_t>> want;
    std::mt19937 rng(3);
    for (int i = 0; i < 20000; ++i) {
        const uint32_t stack = rng() % 700; // stack 0 is stored too (as key 1)
        const int64_t blocks = (rng() % 3 == 0) ? -1 : 1, bytes = blocks * int64_t(rng() % 4096);
        t.add(stack, blocks, bytes);
        want[stack].first += blocks;
        want[stack].second += bytes;
    }
    std::map<uint32_t, std::pair<int64_t, int64_t>> got;
    t.for_each([&](uint32_t stack, int64_t blocks, int64_t bytes) {
        EXPECT_EQ(got.count(stack), 0u) << "stack " << stack << " listed twice";
        got[stack] = {blocks, bytes};
    });
    EXPECT_EQ(got, want);
}

TEST(StackTally, EmptyTallyListsNothing) {
    StackTally t;
    int n = 0;
    t.for_each([&](uint32_t, int64_t, int64_t) { ++n; });
    EXPECT_EQ(n, 0);
}

} // namespace

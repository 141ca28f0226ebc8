// test_track_livemap.cpp - LiveMap: granule states, absent leaves, range clears, live scans.
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "track/livemap.hpp"

namespace {

using nm::track::Granule;
using nm::track::LiveMap;

constexpr uintptr_t kBase = uintptr_t{0x7f1234000000};

TEST(LiveMap, FindIsNullWhereNoLeafWasCreated) {
    LiveMap m;
    EXPECT_EQ(m.find(kBase), nullptr);
    EXPECT_EQ(m.find(uintptr_t{1} << 50), nullptr) << "beyond the 47-bit address space";
    EXPECT_EQ(m.find_or_create(uintptr_t{1} << 50), nullptr);
}

TEST(LiveMap, EveryGranuleHasItsOwnByte) {
    LiveMap m;
    std::atomic<uint8_t> *a = m.find_or_create(kBase);
    std::atomic<uint8_t> *b = m.find_or_create(kBase + 16);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b, a + 1);
    EXPECT_EQ(m.find(kBase), a) << "created once, found again";
    EXPECT_EQ(a->load(), uint8_t(Granule::None)) << "fresh leaves are zero";
    a->store(uint8_t(Granule::Live));
    EXPECT_EQ(b->load(), uint8_t(Granule::None));
}

TEST(LiveMap, ForEachLiveSeesLiveAndClaimedOnlyAcrossLeaves) {
    LiveMap m;
    const uintptr_t leaf = uintptr_t{1} << LiveMap::kLeafShift;
    std::vector<uintptr_t> want = {kBase, kBase + 32, kBase + leaf - 16, kBase + leaf, kBase + 3 * leaf + 48};
    for (uintptr_t a : want) m.find_or_create(a)->store(uint8_t(Granule::Live));
    m.find(kBase + 32)->store(uint8_t(Granule::Claimed));
    m.find_or_create(kBase + 64)->store(uint8_t(Granule::Freed));
    std::vector<uintptr_t> got;
    m.for_each_live(kBase, kBase + 4 * leaf, [&](uintptr_t a) { got.push_back(a); });
    EXPECT_EQ(got, want) << "absent leaf 2 is skipped, Freed is not live";
    got.clear();
    m.for_each_live(kBase + 16, kBase + leaf, [&](uintptr_t a) { got.push_back(a); });
    EXPECT_EQ(got, (std::vector<uintptr_t>{kBase + 32, kBase + leaf - 16})) << "the range is half-open";
}

TEST(LiveMap, ClearRangeResetsOnlyTheRange) {
    LiveMap m;
    for (uintptr_t a = kBase; a < kBase + 1024; a += 16) m.find_or_create(a)->store(uint8_t(Granule::Live));
    m.clear_range(kBase + 256, kBase + 512);
    size_t live = 0;
    m.for_each_live(kBase, kBase + 1024, [&](uintptr_t a) {
        EXPECT_TRUE(a < kBase + 256 || a >= kBase + 512) << std::hex << a;
        ++live;
    });
    EXPECT_EQ(live, (1024u - 256u) / 16u);
}

TEST(LiveMap, RacingLeafCreationYieldsOneLeaf) {
    LiveMap m;
    constexpr int kThreads = 4;
    std::vector<std::atomic<uint8_t> *> seen(kThreads);
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
        ts.emplace_back([&, t] { seen[size_t(t)] = m.find_or_create(kBase + 16 * uintptr_t(t)) - t; });
    for (auto &t : ts) t.join();
    for (int t = 1; t < kThreads; ++t) EXPECT_EQ(seen[size_t(t)], seen[0]) << "thread " << t;
}

} // namespace

// test_track_depot.cpp - StackDepot and StackCache: ids, one-pass hashes, a full depot, racing
// inserts of the same and of different stacks.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "track/stack_depot.hpp"

namespace {

using nm::track::StackCache;
using nm::track::StackDepot;

std::vector<uintptr_t> stack_of(uint32_t seed, uint32_t depth) {
    std::vector<uintptr_t> s;
    for (uint32_t i = 0; i < depth; ++i) s.push_back(0x400000 + seed * 0x1000 + i * 8);
    return s;
}

TEST(StackDepot, EqualStacksShareAnIdAndComeBack) {
    StackDepot d(1024);
    auto a = stack_of(1, 16), b = stack_of(2, 16), a_short = stack_of(1, 15);
    const uint32_t ia = d.intern(a.data(), 16), ib = d.intern(b.data(), 16), ic = d.intern(a_short.data(), 15);
    EXPECT_NE(ia, 0u);
    EXPECT_NE(ia, ib);
    EXPECT_NE(ia, ic) << "a prefix is another stack";
    EXPECT_EQ(d.intern(a.data(), 16), ia);
    std::vector<uintptr_t> out;
    ASSERT_TRUE(d.get(ia, out));
    EXPECT_EQ(out, a);
    ASSERT_TRUE(d.get(0, out));
    EXPECT_TRUE(out.empty()) << "id 0 is the empty stack";
    EXPECT_FALSE(d.get(d.size(), out)) << "an id never handed out";
    EXPECT_EQ(d.intern(a.data(), 0), 0u);
}

TEST(StackDepot, FullDepotReturnsZeroAndKeepsWhatItHas) {
    StackDepot d(8); // ids 1..7
    std::vector<uint32_t> ids;
    for (uint32_t i = 0; i < 10; ++i) {
        auto s = stack_of(i, 4);
        ids.push_back(d.intern(s.data(), 4));
    }
    for (uint32_t i = 0; i < 7; ++i) EXPECT_EQ(ids[i], i + 1);
    for (uint32_t i = 7; i < 10; ++i) EXPECT_EQ(ids[i], 0u) << "stack " << i << " found the depot full";
    EXPECT_EQ(d.size(), 8u);
    auto s3 = stack_of(3, 4);
    EXPECT_EQ(d.intern(s3.data(), 4), 4u) << "known stacks are still found when full";
    std::vector<uintptr_t> out;
    ASSERT_TRUE(d.get(7, out));
    EXPECT_EQ(out, stack_of(6, 4));
}

TEST(StackDepot, RacingInsertsOfTheSameStacksAgreeOnIds) {
    StackDepot d;
    constexpr int kThreads = 4, kStacks = 2000;
    std::vector<std::vector<uint32_t>> got(kThreads, std::vector<uint32_t>(kStacks));
    std::atomic<bool> go{false};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
        ts.emplace_back([&, t] {
            while (!go.load()) std::this_thread::yield();
            for (int i = 0; i < kStacks; ++i) {
                // Each thread walks the stacks in its own order so inserts of one stack collide.
                const int k = (t % 2) ? kStacks - 1 - i : i;
                auto s = stack_of(uint32_t(k), 1 + uint32_t(k) % 64);
                got[size_t(t)][size_t(k)] = d.intern(s.data(), uint32_t(s.size()));
            }
        });
    go.store(true);
    for (auto &t : ts) t.join();
    std::set<uint32_t> distinct;
    for (int i = 0; i < kStacks; ++i) {
        for (int t = 1; t < kThreads; ++t) ASSERT_EQ(got[size_t(t)][size_t(i)], got[0][size_t(i)]) << i;
        distinct.insert(got[0][size_t(i)]);
        std::vector<uintptr_t> out;
        ASSERT_TRUE(d.get(got[0][size_t(i)], out));
        EXPECT_EQ(out, stack_of(uint32_t(i), 1 + uint32_t(i) % 64));
    }
    EXPECT_EQ(distinct.size(), size_t(kStacks));
    EXPECT_EQ(d.size(), uint32_t(kStacks + 1)) << "no stack was stored twice";
}

TEST(StackDepot, HashOfAStepwiseWalkEqualsTheWholeStackHash) {
    auto s = stack_of(9, 16);
    uint64_t h = nm::track::kStackHashSeed;
    for (uintptr_t f : s) h = nm::track::stack_hash_step(h, f);
    EXPECT_EQ(nm::track::stack_hash_finish(h, 16), nm::track::stack_hash(s.data(), 16));
    EXPECT_NE(nm::track::stack_hash(s.data(), 15), nm::track::stack_hash(s.data(), 16));
}

TEST(StackCache, HitsReturnTheDepotIdWithoutNewIds) {
    StackDepot d(1024);
    auto cache = std::make_unique<StackCache>();
    auto a = stack_of(1, 16), b = stack_of(2, 16);
    const uint64_t ha = nm::track::stack_hash(a.data(), 16), hb = nm::track::stack_hash(b.data(), 16);
    const uint32_t ia = cache->intern(d, a.data(), 16, ha);
    EXPECT_EQ(ia, d.intern(a.data(), 16));
    const uint32_t size = d.size();
    EXPECT_EQ(cache->intern(d, a.data(), 16, ha), ia);
    EXPECT_EQ(d.size(), size);
    EXPECT_NE(cache->intern(d, b.data(), 16, hb), ia);
    EXPECT_EQ(cache->intern(d, a.data(), 16, ha), ia) << "after another stack used the cache";
}

TEST(StackCache, AFullDepotIsNotCached) {
    StackDepot d(2); // room for one stack
    auto cache = std::make_unique<StackCache>();
    auto a = stack_of(1, 4), b = stack_of(2, 4);
    EXPECT_EQ(cache->intern(d, a.data(), 4, nm::track::stack_hash(a.data(), 4)), 1u);
    EXPECT_EQ(cache->intern(d, b.data(), 4, nm::track::stack_hash(b.data(), 4)), 0u);
    EXPECT_EQ(cache->intern(d, b.data(), 4, nm::track::stack_hash(b.data(), 4)), 0u);
}

} // namespace

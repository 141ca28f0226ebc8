// test_track_open_table.cpp - the tracker's open-addressing table: growth, collisions, a memory
// source that fails, iteration and backward-shift deletion.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "track/open_table.hpp"

namespace {

using nm::track::OpenTable;

struct Item {
    uint64_t key; // 0 = empty
    uint64_t value;
};

// Spread keys (the same multiplier the tracker's tables use).
struct Spread {
    using Entry = Item;
    using Key = uint64_t;
    static Key key(const Entry &e) noexcept { return e.key; }
    static void set_key(Entry &e, Key k) noexcept { e.key = k; }
    static size_t hash(Key k) noexcept { return nm::track::fib_spread(k, 32); }
    static constexpr uint32_t kMinCapacity = 16;
};

// Every key in one bucket.
struct SameBucket : Spread {
    static size_t hash(Key) noexcept { return 5; }
};

// Every key in the last bucket, so each run of collisions wraps around the end of the array.
struct LastBucket : Spread {
    static size_t hash(Key) noexcept { return ~size_t{0}; }
};

// A handful of buckets, so runs overlap and wrap.
struct FewBuckets : Spread {
    static size_t hash(Key k) noexcept { return size_t(k % 5) * 3 + ~size_t{0} - 4; }
};

// calloc/free, failing when told to, and counting what it hands out.
struct TestMemory {
    static inline int fail_after = -1; // allocations left before they fail; -1: never
    static inline long live = 0;
    static inline size_t live_bytes = 0;
    static void *zeroed(size_t bytes) noexcept {
        if (fail_after == 0) return nullptr;
        if (fail_after > 0) --fail_after;
        ++live;
        live_bytes += bytes;
        return std::calloc(1, bytes);
    }
    static void release(void *p, size_t bytes) noexcept {
        --live;
        live_bytes -= bytes;
        std::free(p);
    }
};

class OpenTableTest : public ::testing::Test {
protected:
    void SetUp() override {
        TestMemory::fail_after = -1;
        TestMemory::live = 0;
        TestMemory::live_bytes = 0;
    }
    void TearDown() override {
        EXPECT_EQ(TestMemory::live, 0) << "every array is given back";
        EXPECT_EQ(TestMemory::live_bytes, 0u) << "with the size it was taken with";
    }
};

// Every key of want is found with its value, and the table lists exactly want.
template <class Table> void expect_holds(const Table &t, const std::map<uint64_t, uint64_t> &want) {
    ASSERT_EQ(t.size(), want.size());
    for (const auto &[k, v] : want) {
        const Item *e = t.find(k);
        ASSERT_NE(e, nullptr) << "key " << k;
        EXPECT_EQ(e->value, v) << "key " << k;
    }
    std::map<uint64_t, uint64_t> listed;
    t.for_each([&](const Item &e) {
        EXPECT_EQ(listed.count(e.key), 0u) << "key " << e.key << " listed twice";
        listed[e.key] = e.value;
    });
    EXPECT_EQ(listed, want);
}

TEST_F(OpenTableTest, GrowsByDoublingBeforeHalfFull) {
    OpenTable<Spread, TestMemory> t;
    EXPECT_EQ(t.capacity(), 0u);
    EXPECT_EQ(t.find(1), nullptr) << "an empty table has no array to probe";
    std::map<uint64_t, uint64_t> want;
    std::mt19937_64 rng(11);
    uint32_t last_cap = 0;
    std::vector<uint32_t> caps;
    while (want.size() < 20000) {
        const uint64_t k = (rng() >> 8) | 1;
        bool inserted = false;
        Item *e = t.insert(k, &inserted);
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(inserted, want.count(k) == 0);
        if (inserted) {
            EXPECT_EQ(e->value, 0u) << "a new entry is zero but its key";
        }
        e->value = k * 3;
        want[k] = k * 3;
        ASSERT_LE(t.size() * 2, t.capacity()) << "never more than half full";
        if (t.capacity() != last_cap) caps.push_back(last_cap = t.capacity());
    }
    ASSERT_FALSE(caps.empty());
    EXPECT_EQ(caps.front(), Spread::kMinCapacity);
    for (size_t i = 1; i < caps.size(); ++i) EXPECT_EQ(caps[i], caps[i - 1] * 2);
    EXPECT_EQ(t.capacity(), 65536u) << "20000 entries: the first power of two at least twice that";
    EXPECT_EQ(TestMemory::live, 1) << "the old arrays were given back";
    expect_holds(t, want);
    EXPECT_EQ(t.find(2), nullptr) << "even keys were never inserted";
    t.clear();
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.capacity(), 0u);
    EXPECT_EQ(TestMemory::live, 0);
    EXPECT_EQ(t.find(want.begin()->first), nullptr);
    ASSERT_NE(t.insert(7), nullptr) << "usable again after clear";
    EXPECT_TRUE(t.contains(7));
}

TEST_F(OpenTableTest, InsertingAKeyTwiceFindsTheFirstEntry) {
    OpenTable<Spread, TestMemory> t;
    Item *a = t.insert(42);
    a->value = 9;
    bool inserted = true;
    Item *b = t.insert(42, &inserted);
    EXPECT_EQ(a, b);
    EXPECT_FALSE(inserted);
    EXPECT_EQ(b->value, 9u);
    EXPECT_EQ(t.size(), 1u);
}

template <class Traits> void collide_and_erase() {
    OpenTable<Traits, TestMemory> t;
    std::map<uint64_t, uint64_t> want;
    for (uint64_t k = 1; k <= 40; ++k) {
        t.insert(k)->value = k + 100;
        want[k] = k + 100;
    }
    expect_holds(t, want);
    // From the middle of the run, its start, and its end.
    for (uint64_t k : {20u, 1u, 40u, 21u, 2u, 39u}) {
        Item *e = t.find(k);
        ASSERT_NE(e, nullptr);
        t.erase(e);
        want.erase(k);
        expect_holds(t, want);
        EXPECT_EQ(t.find(k), nullptr);
    }
    // The holes are reused, and the run still holds together.
    for (uint64_t k : {20u, 1u, 1000u}) {
        bool inserted = false;
        Item *e = t.insert(k, &inserted);
        ASSERT_TRUE(inserted);
        EXPECT_EQ(e->value, 0u) << "an erased entry leaves zero bytes behind";
        e->value = k;
        want[k] = k;
    }
    expect_holds(t, want);
}

TEST_F(OpenTableTest, KeysInOneBucket) { collide_and_erase<SameBucket>(); }
TEST_F(OpenTableTest, KeysInTheLastBucketWrapAround) { collide_and_erase<LastBucket>(); }

TEST_F(OpenTableTest, RandomInsertsAndErasesAgainstAMap) {
    OpenTable<FewBuckets, TestMemory> few;
    OpenTable<Spread, TestMemory> spread;
    std::map<uint64_t, uint64_t> want;
    std::mt19937_64 rng(5);
    for (int op = 0; op < 4000; ++op) {
        const uint64_t k = 1 + rng() % 300;
        if (rng() % 3 == 0) {
            Item *a = few.find(k), *b = spread.find(k);
            ASSERT_EQ(a != nullptr, want.count(k) == 1);
            ASSERT_EQ(b != nullptr, want.count(k) == 1);
            if (a) few.erase(a);
            if (b) spread.erase(b);
            want.erase(k);
        } else {
            few.insert(k)->value = uint64_t(op);
            spread.insert(k)->value = uint64_t(op);
            want[k] = uint64_t(op);
        }
        if (op % 97 == 0) {
            expect_holds(few, want);
            expect_holds(spread, want);
        }
    }
    expect_holds(few, want);
    expect_holds(spread, want);
}

TEST_F(OpenTableTest, EraseIfRemovesExactlyTheMatchingEntries) {
    OpenTable<FewBuckets, TestMemory> t;
    std::map<uint64_t, uint64_t> want;
    for (uint64_t k = 1; k <= 500; ++k) {
        t.insert(k)->value = k % 7;
        if (k % 7 != 3) want[k] = k % 7;
    }
    const uint32_t cap = t.capacity();
    EXPECT_EQ(t.erase_if([](const Item &e) { return e.value == 3; }), 500u / 7 + (500 % 7 >= 3));
    expect_holds(t, want);
    EXPECT_EQ(t.capacity(), cap) << "erasing never reallocates";
    EXPECT_EQ(t.erase_if([](const Item &) { return true; }), want.size());
    EXPECT_EQ(t.size(), 0u);
    int listed = 0;
    t.for_each([&](const Item &) { ++listed; });
    EXPECT_EQ(listed, 0);
    OpenTable<Spread, TestMemory> empty;
    EXPECT_EQ(empty.erase_if([](const Item &) { return true; }), 0u) << "no array: nothing to walk";
}

TEST_F(OpenTableTest, FailedFirstAllocationLeavesAnEmptyTable) {
    OpenTable<Spread, TestMemory> t;
    TestMemory::fail_after = 0;
    bool inserted = true;
    EXPECT_EQ(t.insert(3, &inserted), nullptr);
    EXPECT_FALSE(inserted);
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.capacity(), 0u);
    EXPECT_EQ(t.find(3), nullptr);
    TestMemory::fail_after = -1;
    EXPECT_NE(t.insert(3), nullptr);
}

TEST_F(OpenTableTest, FailedGrowKeepsEveryEntryAndStillFindsOldKeys) {
    OpenTable<Spread, TestMemory> t;
    std::map<uint64_t, uint64_t> want;
    uint64_t k = 1;
    // Fill the first array to the point where one more new key needs a larger one.
    while ((t.size() + 1) * 2 <= Spread::kMinCapacity) {
        t.insert(k)->value = k;
        want[k] = k;
        ++k;
    }
    ASSERT_EQ(t.capacity(), Spread::kMinCapacity);
    TestMemory::fail_after = 0;
    EXPECT_EQ(t.insert(k), nullptr) << "a new key needs the larger array";
    EXPECT_EQ(t.capacity(), Spread::kMinCapacity);
    expect_holds(t, want);
    bool inserted = true;
    Item *old = t.insert(1, &inserted);
    ASSERT_NE(old, nullptr) << "a key already there needs no memory";
    EXPECT_FALSE(inserted);
    EXPECT_EQ(old->value, 1u);
    // Room made by an erase is used without growing.
    t.erase(t.find(2));
    want.erase(2);
    ASSERT_NE(t.insert(k), nullptr);
    want[k] = 0;
    expect_holds(t, want);
    TestMemory::fail_after = -1;
    ASSERT_NE(t.insert(k + 1), nullptr) << "grows once memory can be had";
    EXPECT_EQ(t.capacity(), Spread::kMinCapacity * 2);
    want[k + 1] = 0;
    expect_holds(t, want);
}

TEST_F(OpenTableTest, ReserveMakesRoomForThatManyWithoutAnotherGrow) {
    OpenTable<Spread, TestMemory> t;
    ASSERT_TRUE(t.reserve(1000));
    EXPECT_EQ(t.capacity(), 2048u) << "the first power of two at least twice the count";
    TestMemory::fail_after = 0; // no more memory: the inserts below must not need any
    for (uint64_t k = 1; k <= 1024; ++k) ASSERT_NE(t.insert(k), nullptr) << k; // half of 2048
    EXPECT_EQ(t.capacity(), 2048u);
    EXPECT_EQ(t.insert(1025), nullptr) << "one past half full needs a grow";
    EXPECT_TRUE(t.reserve(10)) << "already room: nothing to allocate";
    EXPECT_FALSE(t.reserve(5000)) << "no memory: refused";
    EXPECT_EQ(t.capacity(), 2048u);
    TestMemory::fail_after = -1;
    ASSERT_TRUE(t.reserve(5000));
    EXPECT_EQ(t.capacity(), 16384u);
    for (uint64_t k = 1; k <= 1024; ++k) ASSERT_TRUE(t.contains(k)) << "moved with the entries: " << k;
    EXPECT_FALSE(t.reserve(size_t{1} << 40)) << "past the largest capacity";
}

TEST_F(OpenTableTest, ForEachCanUpdateEntriesInPlace) {
    OpenTable<Spread, TestMemory> t;
    for (uint64_t k = 1; k <= 100; ++k) t.insert(k)->value = k;
    t.for_each([](Item &e) { e.value *= 2; });
    uint64_t sum = 0;
    const auto &ct = t;
    ct.for_each([&](const Item &e) { sum += e.value; });
    EXPECT_EQ(sum, 2u * 5050u);
}

} // namespace

// test_track_history.cpp - the history of closed keys: a key whose last left-behind heap block is
// freed has its record settled in place (nothing live, the frees counted), whichever deque holds it.
#include <gtest/gtest.h>

#include <cstdint>

#include "track/history.hpp"

namespace {

using nm::track::History;
using nm::track::KeyRecord;
using nm::track::Reading;

KeyRecord closed_with_left(uint64_t id, uint64_t blocks, uint64_t bytes) {
    KeyRecord r;
    r.id = id;
    r.closed = true;
    r.heap_allocs = blocks + 3;
    r.heap_frees = 3;
    r.heap_blocks = blocks;
    r.heap_bytes = bytes;
    r.close.left_blocks = blocks;
    r.close.left_bytes = bytes;
    return r;
}

const KeyRecord *find(const Reading &r, uint64_t id) {
    for (const KeyRecord &k : r.closed)
        if (k.id == id) return &k;
    return nullptr;
}

TEST(History, SettlingTheLastLeftBehindFreeUpdatesOnlyThatRecord) {
    History h;
    h.add_closed(closed_with_left(7, 4, 2433));
    h.add_closed(closed_with_left(8, 2, 100));
    h.settle_left_behind(7, 4);
    h.settle_left_behind(99, 5); // no such key: nothing changes
    Reading r;
    h.read(r, 0);
    const KeyRecord *a = find(r, 7), *b = find(r, 8);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a->heap_blocks, 0u);
    EXPECT_EQ(a->heap_bytes, 0u);
    EXPECT_EQ(a->heap_frees, 7u);
    EXPECT_EQ(a->heap_allocs, a->heap_frees);
    EXPECT_EQ(a->close.left_blocks, 4u) << "what the close listed stays as it was";
    EXPECT_EQ(b->heap_blocks, 2u);
    EXPECT_EQ(b->heap_frees, 3u);
    // The record keeps its sequence number: a reader past it is not sent it again.
    Reading later;
    h.read(later, r.history_seq);
    EXPECT_TRUE(later.closed.empty());
}

} // namespace

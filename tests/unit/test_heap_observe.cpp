// test_heap_observe.cpp - the observed heap of `nmleak attach` (core/src/track/heap_observe.cpp)
// without any hook: blocks of glibc's reported from several threads land on the caller's module
// key with their sizes and stacks, frees take them out, unknown frees count as foreign, an address
// reported again while still listed replaces its entry, and stopping forgets every block.
#include <nmleak/heap.hpp>

#include "track/query.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>
#include <vector>

namespace {

// The module key of this test executable, as a reading shows it (nullptr when absent).
const nm::track::KeyRecord *own_key(const nm::track::Reading &r) {
    for (const auto &k : r.open)
        if (k.kind == 1 && k.name.rfind("test_heap_observe", 0) == 0) return &k;
    return nullptr;
}

// As the hooks are built: with a frame of its own, which the tracker's stack starts from.
__attribute__((noinline, optimize("no-omit-frame-pointer"))) void report_blocks(std::vector<void *> &out, size_t n, size_t size) {
    for (size_t i = 0; i < n; ++i) {
        void *p = std::malloc(size);
        out.push_back(p);
        nm::heap::observed_alloc(p, size, nm::heap::Fn::Malloc, __builtin_frame_address(0));
    }
}

TEST(HeapObserve, BlocksFromThreadsFreesForeignFreesAndStop) {
    const char *why = nullptr;
    ASSERT_TRUE(nm::heap::observe_start(nullptr, &why)) << (why ? why : "");
    ASSERT_TRUE(nm::heap::observing());
    const uint64_t blocks_before = nm::heap::observed_blocks();

    constexpr size_t kThreads = 4, kPerThread = 2500, kSize = 48;
    std::vector<std::vector<void *>> made(kThreads);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            report_blocks(made[t], kPerThread, kSize + t);
            asm volatile("" ::: "memory"); // no tail call: this frame stays on the stack
        });
    for (auto &t : threads) t.join();
    EXPECT_EQ(nm::heap::observed_blocks() - blocks_before, kThreads * kPerThread);

    nm::track::Reading r;
    nm::track::Query::read(r, true);
    const nm::track::KeyRecord *k = own_key(r);
    ASSERT_NE(k, nullptr) << "no module key for the test executable";
    EXPECT_EQ(k->live_blocks, kThreads * kPerThread);
    EXPECT_EQ(k->live_bytes, kPerThread * (kSize * kThreads + 0 + 1 + 2 + 3));
    ASSERT_EQ(k->blocks.size(), kThreads * kPerThread);
    std::vector<uintptr_t> frames;
    ASSERT_TRUE(nm::track::Query::stack(k->blocks[0].stack, frames));
    EXPECT_FALSE(frames.empty());
    for (const auto &b : k->blocks) EXPECT_EQ(b.origin, 1u);

    // Freed from other threads than the ones that made them.
    threads.clear();
    for (size_t t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (void *p : made[(t + 1) % kThreads]) {
                uint64_t size = 0;
                EXPECT_TRUE(nm::heap::observed_free(p, &size));
                EXPECT_EQ(size, kSize + (t + 1) % kThreads);
                std::free(p);
            }
        });
    for (auto &t : threads) t.join();
    EXPECT_EQ(nm::heap::observed_blocks(), blocks_before);

    // A block the heap never reported (made "before the attach").
    const uint64_t foreign = nm::heap::observed_foreign_frees();
    void *old = std::malloc(100);
    EXPECT_FALSE(nm::heap::observed_free(old));
    std::free(old);
    EXPECT_EQ(nm::heap::observed_foreign_frees(), foreign + 1);

    // Reported twice without a free in between (freed by a path no hook saw): one entry, the new.
    const uint64_t replaced = nm::heap::observed_replaced();
    std::vector<void *> twice;
    report_blocks(twice, 1, 64);
    nm::heap::observed_alloc(twice[0], 80, nm::heap::Fn::Malloc, __builtin_frame_address(0));
    EXPECT_EQ(nm::heap::observed_replaced(), replaced + 1);
    EXPECT_EQ(nm::heap::observed_blocks(), blocks_before + 1);
    uint64_t size = 0;
    EXPECT_TRUE(nm::heap::observed_free(twice[0], &size));
    EXPECT_EQ(size, 80u);
    std::free(twice[0]);

    // Stopping forgets every listed block and the key's figures with them.
    std::vector<void *> left;
    report_blocks(left, 10, 32);
    nm::heap::observe_stop();
    EXPECT_FALSE(nm::heap::observing());
    EXPECT_EQ(nm::heap::observed_blocks(), 0u);
    nm::track::Reading after;
    nm::track::Query::read(after, true);
    const nm::track::KeyRecord *k2 = own_key(after);
    ASSERT_NE(k2, nullptr) << "the module key stays, with its history";
    EXPECT_EQ(k2->live_blocks, 0u);
    EXPECT_TRUE(k2->blocks.empty());
    // Not observing: frees are not counted.
    for (void *p : left) {
        EXPECT_TRUE(nm::heap::observed_free(p));
        std::free(p);
    }
    // And a second start works again from nothing.
    ASSERT_TRUE(nm::heap::observe_start(nullptr, &why));
    report_blocks(left, 1, 16);
    EXPECT_EQ(nm::heap::observed_blocks(), 1u);
    nm::heap::observe_stop();
    std::free(left.back());
}

} // namespace

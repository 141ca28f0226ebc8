// test_heap_observe.cpp - the observed heap of `nmleak attach` (core/src/track/heap_observe.cpp)
// without any hook: blocks of glibc's reported from several threads land on the caller's module
// key with their sizes and stacks, frees take them out, unknown frees count as foreign, an address
// reported again while still listed replaces its entry, and stopping forgets every block; double
// and invalid frees are refused and recorded as misuse.
#include <nmleak/heap.hpp>

#include "track/query.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
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

char g_not_heap[64] __attribute__((aligned(16)));

// As a hook would: the misuse's stack starts at this frame's caller.
__attribute__((noinline, optimize("no-omit-frame-pointer"))) nm::heap::Release release_here(void *p, bool resize = false) {
    const nm::heap::Release r = nm::heap::observed_release(p, nullptr, nm::heap::Fn::Malloc, __builtin_frame_address(0), resize);
    asm volatile("" ::: "memory");
    return r;
}

TEST(HeapObserve, DoubleAndInvalidFreesAreRefusedAndRecorded) {
    using nm::heap::Release;
    const char *why = nullptr;
    ASSERT_TRUE(nm::heap::observe_start(nullptr, &why)) << (why ? why : "");
    nm::heap::observe_arm(true);
    const uint64_t refused = nm::heap::observed_refused();
    std::vector<void *> made;
    report_blocks(made, 2, 256);
    char *a = static_cast<char *>(made[0]), *b = static_cast<char *>(made[1]);
    std::memset(a, 0, 256); // no data that looks like a chunk header inside

    EXPECT_EQ(release_here(a + 32), Release::Refused);  // into the middle, aligned
    EXPECT_EQ(release_here(a + 3), Release::Refused);   // into the middle, misaligned
    EXPECT_EQ(release_here(g_not_heap + 16), Release::Refused);
    alignas(16) char local[64];
    EXPECT_EQ(release_here(local + 16), Release::Refused);
    EXPECT_EQ(release_here(reinterpret_cast<void *>(uintptr_t(0x10000))), Release::Refused);
    EXPECT_EQ(release_here(a), Release::Listed);
    EXPECT_EQ(release_here(a), Release::Refused);       // a double free
    EXPECT_EQ(release_here(a, true), Release::Refused); // a realloc of a freed block
    std::free(a);
    // Another block's address handed out again is a block again.
    EXPECT_EQ(release_here(b), Release::Listed);
    nm::heap::observed_alloc(b, 100, nm::heap::Fn::Malloc, __builtin_frame_address(0));
    EXPECT_EQ(release_here(b), Release::Listed);
    std::free(b);
    // A block the heap never reported stays foreign.
    void *old = std::aligned_alloc(16, 112);
    EXPECT_EQ(release_here(old), Release::Foreign);
    std::free(old);
    EXPECT_EQ(nm::heap::observed_refused(), refused + 7);

    nm::track::Reading r;
    nm::track::Query::read(r, false);
    const nm::track::KeyRecord *k = own_key(r);
    ASSERT_NE(k, nullptr);
    std::map<std::pair<nm::track::MisuseKind, std::string>, int> seen;
    for (const auto &m : r.misuse)
        if (m.key_id == k->id) ++seen[{m.kind, m.function}];
    using K = nm::track::MisuseKind;
    const std::map<std::pair<K, std::string>, int> want = {
        {{K::InteriorPointer, "free"}, 2}, {{K::UnknownPointer, "free"}, 3},
        {{K::DoubleFree, "free"}, 1},      {{K::DoubleFree, "realloc"}, 1}};
    EXPECT_EQ(seen, want);
    nm::heap::observe_stop();
}

// Freed entries are kept per shard, the newest 64 at least (past 128 the older ones go): a block
// freed again among the newest is a double free, one freed long ago is not listed any more. The
// blocks are 16-byte pieces of one page, so they share a shard and its table sees every eviction.
TEST(HeapObserve, OnlyTheNewestFreesOfAShardAreKept) {
    using nm::heap::Release;
    const char *why = nullptr;
    ASSERT_TRUE(nm::heap::observe_start(nullptr, &why)) << (why ? why : "");
    nm::heap::observe_arm(true);
    constexpr size_t kPieces = 256, kKept = 64;
    char *page = static_cast<char *>(std::aligned_alloc(4096, 4096));
    ASSERT_NE(page, nullptr);
    std::memset(page, 0, 4096); // no data that looks like a chunk header
    const uint64_t blocks_before = nm::heap::observed_blocks();
    for (size_t i = 0; i < kPieces; ++i)
        nm::heap::observed_alloc(page + 16 * i, 16, nm::heap::Fn::Malloc, __builtin_frame_address(0));
    EXPECT_EQ(nm::heap::observed_blocks() - blocks_before, kPieces);
    for (size_t i = 0; i < kPieces; ++i) ASSERT_EQ(release_here(page + 16 * i), Release::Listed) << i;
    EXPECT_EQ(nm::heap::observed_blocks(), blocks_before) << "freed entries are not live blocks";

    auto double_frees = [] {
        nm::track::Reading r;
        nm::track::Query::read(r, false);
        const nm::track::KeyRecord *k = own_key(r);
        size_t n = 0;
        for (const auto &m : r.misuse)
            if (k && m.key_id == k->id && m.kind == nm::track::MisuseKind::DoubleFree) ++n;
        return n;
    };
    const size_t before = double_frees();
    for (size_t i = kPieces - kKept; i < kPieces; ++i)
        EXPECT_EQ(release_here(page + 16 * i), Release::Refused) << "freed recently: " << i;
    EXPECT_EQ(double_frees(), before + kKept);
    for (size_t i = 0; i < kKept; ++i)
        EXPECT_NE(release_here(page + 16 * i), Release::Listed) << "freed long ago: " << i;
    EXPECT_EQ(double_frees(), before + kKept) << "the oldest frees were forgotten, not kept as freed";
    // A forgotten address handed out again is a block again.
    nm::heap::observed_alloc(page, 16, nm::heap::Fn::Malloc, __builtin_frame_address(0));
    EXPECT_EQ(release_here(page), Release::Listed);
    nm::heap::observe_stop();
    std::free(page);
}

} // namespace

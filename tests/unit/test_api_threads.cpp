// test_api_threads.cpp - keys shared by threads, cross-thread frees, closes from other threads
// and after the allocating thread exited, and a randomized stress run checked against a tally.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "common/snapshot_find.hpp"
#include "netmon.h"
#include "nmhost.h"

namespace {

TEST(Threads, SeveralThreadsShareOneKey) {
    HEXPERTKEY k = NmOpenExpertKey("shared");
    constexpr int kThreads = 4, kPer = 20000;
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
        ts.emplace_back([&, t] {
            std::vector<void *> mine;
            for (int i = 0; i < kPer; ++i) {
                void *p = ExpertAllocMemory(k, size_t(16 + (i % 64)), nullptr);
                ASSERT_NE(p, nullptr);
                std::memset(p, t, 16);
                mine.push_back(p);
                if (i % 2) {
                    ASSERT_EQ(ExpertFreeMemory(k, mine.back()), SIZE_T(NMERR_SUCCESS));
                    mine.pop_back();
                }
            }
            for (void *p : mine) ASSERT_EQ(ExpertFreeMemory(k, p), SIZE_T(NMERR_SUCCESS));
        });
    for (auto &t : ts) t.join();
    NMCLEANUPINFO info{};
    ASSERT_EQ(NmCloseExpertKey(k, NM_OUTCOME_DONE, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.Blocks, 0u);
    EXPECT_EQ(info.Bytes, 0u);
    nm::model::Snapshot s = nm::capture_snapshot(false);
    const auto *e = nmtest::find_expert(s, "shared");
    EXPECT_EQ(e->allocs, uint64_t(kThreads) * kPer);
    EXPECT_EQ(e->frees, uint64_t(kThreads) * kPer);
}

TEST(Threads, BlocksFreedOnAnotherThread) {
    HEXPERTKEY k = NmOpenExpertKey("cross-free");
    std::vector<void *> blocks(10000);
    std::thread producer([&] {
        for (auto &p : blocks) p = ExpertAllocMemory(k, 48, nullptr);
    });
    producer.join(); // the allocating thread is gone before its blocks are freed
    std::thread consumer([&] {
        for (void *p : blocks) ASSERT_EQ(ExpertFreeMemory(k, p), SIZE_T(NMERR_SUCCESS));
    });
    consumer.join();
    NMCLEANUPINFO info{};
    ASSERT_EQ(NmCloseExpertKey(k, NM_OUTCOME_DONE, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.Blocks, 0u);
}

TEST(Threads, CloseFromAnotherThreadWhileTheAllocatorLives) {
    HEXPERTKEY k = NmOpenExpertKey("close-elsewhere");
    std::atomic<int> phase{0};
    std::vector<void *> blocks;
    std::thread worker([&] {
        for (int i = 0; i < 50000; ++i) blocks.push_back(ExpertAllocMemory(k, size_t(i % 300), nullptr));
        phase = 1;
        while (phase != 2) std::this_thread::yield();
        // The key is gone: every call is refused, nothing crashes, and this thread's next key works.
        DWORD err = 0;
        EXPECT_EQ(ExpertAllocMemory(k, 8, &err), nullptr);
        EXPECT_EQ(err, DWORD(NMERR_INVALID_EXPERT_HANDLE));
        HEXPERTKEY next = NmOpenExpertKey("close-elsewhere-next");
        EXPECT_NE(ExpertAllocMemory(next, 8, nullptr), nullptr);
        NmCloseExpertKey(next, NM_OUTCOME_DONE, nullptr);
    });
    while (phase != 1) std::this_thread::yield();
    uint64_t bytes = 0;
    for (int i = 0; i < 50000; ++i) bytes += uint64_t(i % 300);
    NMCLEANUPINFO info{};
    ASSERT_EQ(NmCloseExpertKey(k, NM_OUTCOME_FAILED, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.Blocks, 50000u);
    EXPECT_EQ(info.Bytes, bytes);
    for (void *p : {blocks[0], blocks[49999]}) EXPECT_EQ(ExpertMemorySize(k, p), 0u);
    phase = 2;
    worker.join();
}

TEST(Threads, CloseAfterTheAllocatingThreadsExited) {
    HEXPERTKEY k = NmOpenExpertKey("orphans");
    std::vector<std::thread> ts;
    for (int t = 0; t < 3; ++t)
        ts.emplace_back([&] {
            for (int i = 0; i < 20000; ++i) ExpertAllocMemory(k, 32, nullptr);
        });
    for (auto &t : ts) t.join();
    NMCLEANUPINFO info{};
    ASSERT_EQ(NmCloseExpertKey(k, NM_OUTCOME_CRASHED, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.Blocks, 60000u);
    EXPECT_EQ(info.Bytes, 60000u * 32);
}

TEST(Threads, CloseOnTheAllocatingThreadWhileAnotherThreadAlsoAllocated) {
    HEXPERTKEY k = NmOpenExpertKey("mixed-close");
    for (int i = 0; i < 1000; ++i) ExpertAllocMemory(k, 10, nullptr);
    std::thread other([&] {
        for (int i = 0; i < 1000; ++i) ExpertAllocMemory(k, 20, nullptr);
    });
    other.join();
    NMCLEANUPINFO info{};
    ASSERT_EQ(NmCloseExpertKey(k, NM_OUTCOME_DONE, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.Blocks, 2000u);
    EXPECT_EQ(info.Bytes, 30000u);
}

// 4 threads x N random operations over 32 keys, with random terminates and closes racing the
// operations. Every successful operation is tallied independently per key generation; the tracker's
// own figures (cleanup records and what is left open) must equal the tally.
TEST(Threads, StressMatchesAnIndependentTally) {
    constexpr int kThreads = 4, kKeys = 32;
    const int ops = std::getenv("NM_STRESS_OPS") ? std::atoi(std::getenv("NM_STRESS_OPS")) : 1000000;
    struct Slot {
        std::mutex mu;
        HEXPERTKEY key = nullptr;
        int gen = 0;
        std::vector<std::pair<void *, size_t>> live; // blocks believed live, from the successful calls
        int64_t live_bytes = 0;
    };
    std::vector<Slot> slots(kKeys);
    std::atomic<uint64_t> expected_reclaimed_blocks{0}, expected_reclaimed_bytes{0};
    std::atomic<uint64_t> reported_blocks{0}, reported_bytes{0};
    auto open = [&](Slot &s, int idx) {
        std::string name = "stress-" + std::to_string(idx) + "-" + std::to_string(++s.gen);
        s.key = NmOpenExpertKey(name.c_str());
        ASSERT_NE(s.key, nullptr);
    };
    for (int i = 0; i < kKeys; ++i) open(slots[i], i);

    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
        ts.emplace_back([&, t] {
            std::mt19937_64 rng(1234 + t);
            for (int i = 0; i < ops; ++i) {
                int idx = int(rng() % kKeys);
                Slot &s = slots[idx];
                // The slot lock orders our tally with the key's life cycle; the tracker itself
                // sees 4 threads using and closing the same keys.
                std::lock_guard<std::mutex> lock(s.mu);
                unsigned r = unsigned(rng() % 1000);
                if (r < 450) {
                    size_t n = size_t(rng() % 512);
                    DWORD err;
                    void *p = ExpertAllocMemory(s.key, n, &err);
                    if (p) {
                        s.live.emplace_back(p, n);
                        s.live_bytes += int64_t(n);
                    } else {
                        ASSERT_EQ(err, DWORD(NMERR_EXPERT_TERMINATE));
                    }
                } else if (r < 850 && !s.live.empty()) {
                    size_t j = size_t(rng() % s.live.size());
                    SIZE_T rc = ExpertFreeMemory(s.key, s.live[j].first);
                    ASSERT_TRUE(rc == NMERR_SUCCESS || rc == NMERR_EXPERT_TERMINATE);
                    s.live_bytes -= int64_t(s.live[j].second);
                    s.live[j] = s.live.back();
                    s.live.pop_back();
                } else if (r < 990 && !s.live.empty()) {
                    size_t j = size_t(rng() % s.live.size());
                    size_t n = size_t(rng() % 2048);
                    DWORD err;
                    void *q = ExpertReallocMemory(s.key, s.live[j].first, n, &err);
                    if (q) {
                        s.live_bytes += int64_t(n) - int64_t(s.live[j].second);
                        s.live[j] = {q, n};
                    } else {
                        ASSERT_EQ(err, DWORD(NMERR_EXPERT_TERMINATE));
                    }
                } else if (r < 995) {
                    NmRequestExpertTerminate(s.key);
                } else {
                    NMCLEANUPINFO info{};
                    ASSERT_EQ(NmCloseExpertKey(s.key, NM_OUTCOME_FAILED, &info), DWORD(NMERR_SUCCESS));
                    ASSERT_EQ(info.Blocks, s.live.size());
                    ASSERT_EQ(int64_t(info.Bytes), s.live_bytes);
                    expected_reclaimed_blocks += s.live.size();
                    expected_reclaimed_bytes += uint64_t(s.live_bytes);
                    reported_blocks += info.Blocks;
                    reported_bytes += info.Bytes;
                    s.live.clear();
                    s.live_bytes = 0;
                    open(s, idx);
                }
            }
        });
    for (auto &t : ts) t.join();

    nm::model::Snapshot snap = nm::capture_snapshot(true);
    for (int i = 0; i < kKeys; ++i) {
        Slot &s = slots[i];
        const auto *e = nmtest::find_expert(snap, "stress-" + std::to_string(i) + "-" + std::to_string(s.gen));
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(e->live_blocks, s.live.size());
        EXPECT_EQ(int64_t(e->live_bytes), s.live_bytes);
        ASSERT_EQ(e->blocks.size(), s.live.size());
        std::vector<std::pair<void *, size_t>> seen;
        for (const auto &b : e->blocks) seen.emplace_back(reinterpret_cast<void *>(b.address), size_t(b.size));
        std::sort(seen.begin(), seen.end());
        std::sort(s.live.begin(), s.live.end());
        EXPECT_EQ(seen, s.live);
        NMCLEANUPINFO info{};
        ASSERT_EQ(NmCloseExpertKey(s.key, NM_OUTCOME_DONE, &info), DWORD(NMERR_SUCCESS));
        EXPECT_EQ(info.Blocks, s.live.size());
        EXPECT_EQ(int64_t(info.Bytes), s.live_bytes);
    }
    EXPECT_EQ(reported_blocks.load(), expected_reclaimed_blocks.load());
    EXPECT_EQ(reported_bytes.load(), expected_reclaimed_bytes.load());
}

} // namespace

// test_key_figures.cpp - a key's figures are per-thread lane figures summed when read: exact live
// blocks and bytes, an exact peak for a key one thread uses, and the stated bound on the peak of
// a key several threads share (track/key_table.hpp, kPublishBytes).
#include <gtest/gtest.h>

#include <netmon.h>
#include <nmhost.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/snapshot_find.hpp"
#include "track/key_table.hpp"

namespace {

constexpr int64_t D = nm::track::kPublishBytes;

const nm::model::Expert &read_key(const nm::model::Snapshot &s, const char *name) {
    const nm::model::Expert *e = nmtest::find_expert(s, name);
    if (!e) throw std::runtime_error("no such key");
    return *e;
}

// Runs steps on two threads strictly in turn (0, 1, 0, 1, ...), so the key's byte total after
// every step, and thus its exact peak, are known.
class TwoInTurn {
public:
    void run(int rounds, const std::function<void(int thread, int round)> &step) {
        auto body = [&](int me) {
            for (int r = 0; r < rounds; ++r) {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [&] { return turn_ == me; });
                step(me, r);
                turn_ = 1 - me;
                cv_.notify_all();
            }
        };
        std::thread a(body, 0), b(body, 1);
        a.join();
        b.join();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int turn_ = 0;
};

TEST(KeyFigures, OneThreadKeepsAnExactPeak) {
    HEXPERTKEY key = NmOpenExpertKey("figures-solo");
    std::vector<void *> held;
    int64_t live = 0, peak = 0;
    for (int i = 0; i < 3000; ++i) {
        const size_t n = 16 + size_t(i % 97) * 40;
        if (i % 3 == 2) {
            live -= int64_t(ExpertMemorySize(key, held.back()));
            ExpertFreeMemory(key, held.back());
            held.pop_back();
        } else {
            held.push_back(ExpertAllocMemory(key, n, nullptr));
            live += int64_t(n);
        }
        peak = std::max(peak, live);
    }
    const auto s = nm::capture_snapshot(false);
    const auto &e = read_key(s, "figures-solo");
    EXPECT_EQ(e.live_bytes, uint64_t(live));
    EXPECT_EQ(e.live_blocks, held.size());
    EXPECT_EQ(e.peak_bytes, uint64_t(peak));
    EXPECT_EQ(NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr), DWORD(NMERR_SUCCESS));
}

// Two threads, each holding its blocks below kPublishBytes: nothing reaches the shared total, the
// shortfall is the bound's worst case and stays inside it.
TEST(KeyFigures, SharedKeyPeakStaysWithinTheBoundWhenNothingIsPublished) {
    HEXPERTKEY key = NmOpenExpertKey("figures-shared-small");
    const size_t block = 1024;
    const int per_thread = int((D - 1) / int64_t(block)); // each lane ends just below D
    std::vector<void *> held[2];
    int64_t total = 0, exact_peak = 0;
    TwoInTurn turns;
    turns.run(per_thread, [&](int t, int) {
        held[t].push_back(ExpertAllocMemory(key, block, nullptr));
        total += int64_t(block);
        exact_peak = std::max(exact_peak, total);
    });
    turns.run(per_thread, [&](int t, int) {
        ExpertFreeMemory(key, held[t].back());
        held[t].pop_back();
        total -= int64_t(block);
    });
    const auto s = nm::capture_snapshot(false);
    const auto &e = read_key(s, "figures-shared-small");
    EXPECT_EQ(e.live_bytes, 0u);
    EXPECT_EQ(e.live_blocks, 0u);
    EXPECT_EQ(e.allocs, uint64_t(2 * per_thread));
    EXPECT_EQ(e.frees, uint64_t(2 * per_thread));
    const int64_t p = int64_t(e.peak_bytes);
    EXPECT_GT(p, exact_peak - 2 * D) << "E - n * kPublishBytes < P";
    EXPECT_LT(p, exact_peak + D) << "P < E + (n - 1) * kPublishBytes";
    EXPECT_EQ(NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr), DWORD(NMERR_SUCCESS));
}

// One thread allocates, the other frees those blocks (its lane goes negative): a lane's own peak
// grows without bound here, the key's must not.
TEST(KeyFigures, SharedKeyPeakStaysWithinTheBoundWithCrossThreadFrees) {
    HEXPERTKEY key = NmOpenExpertKey("figures-shared-cross");
    void *pending = nullptr;
    int64_t total = 0, exact_peak = 0;
    const size_t block = 4096;
    TwoInTurn turns;
    turns.run(3000, [&](int t, int) { // 12 MB allocated by thread 0 over the run, 4 KiB at a time
        if (t == 0) {
            pending = ExpertAllocMemory(key, block, nullptr);
            total += int64_t(block);
        } else {
            ExpertFreeMemory(key, pending);
            total -= int64_t(block);
        }
        exact_peak = std::max(exact_peak, total);
    });
    const auto s = nm::capture_snapshot(false);
    const auto &e = read_key(s, "figures-shared-cross");
    EXPECT_EQ(e.live_bytes, 0u);
    const int64_t p = int64_t(e.peak_bytes);
    EXPECT_GT(p, exact_peak - 2 * D);
    EXPECT_LT(p, exact_peak + D) << "the allocating lane alone saw 12 MB";
    EXPECT_EQ(NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr), DWORD(NMERR_SUCCESS));
}

// Large swings on both threads: the shared total follows them and the peak is within the bound;
// the close reclaims exactly what is live.
TEST(KeyFigures, SharedKeyPeakFollowsLargeSwingsAndCloseIsExact) {
    HEXPERTKEY key = NmOpenExpertKey("figures-shared-large");
    std::vector<void *> held[2];
    int64_t total = 0, exact_peak = 0;
    uint64_t expect_blocks = 0;
    TwoInTurn turns;
    turns.run(400, [&](int t, int r) {
        const size_t n = size_t(8192 + 1024 * ((r * 7 + t) % 9));
        if ((r / 50) % 2 == 0 || held[t].empty()) {
            held[t].push_back(ExpertAllocMemory(key, n, nullptr));
            total += int64_t(n);
        } else {
            total -= int64_t(ExpertMemorySize(key, held[t].back()));
            ExpertFreeMemory(key, held[t].back());
            held[t].pop_back();
        }
        exact_peak = std::max(exact_peak, total);
    });
    expect_blocks = held[0].size() + held[1].size();
    const auto s = nm::capture_snapshot(false);
    const auto &e = read_key(s, "figures-shared-large");
    EXPECT_EQ(e.live_bytes, uint64_t(total));
    EXPECT_EQ(e.live_blocks, expect_blocks);
    const int64_t p = int64_t(e.peak_bytes);
    EXPECT_GT(p, exact_peak - 2 * D);
    EXPECT_LT(p, exact_peak + D);
    EXPECT_GT(exact_peak, 4 * D) << "the test swings well past kPublishBytes";
    NMCLEANUPINFO info{};
    EXPECT_EQ(NmCloseExpertKey(key, NM_OUTCOME_FAILED, &info), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(info.Blocks, expect_blocks);
    EXPECT_EQ(info.Bytes, uint64_t(total));
}

} // namespace

// test_close_races.cpp - closes racing live operations on the same key: nothing is lost, nothing
// is freed twice, and every figure equals what the successful calls add up to.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "netmon.h"
#include "nmhost.h"

namespace {

TEST(CloseRaces, ReclaimedEqualsSuccessfulAllocsMinusFrees) {
    constexpr int kWorkers = 3, kGenerations = 60;
    struct Gen {
        std::atomic<int64_t> blocks{0}, bytes{0};
    };
    std::vector<Gen> gens(kGenerations);
    std::vector<std::atomic<HEXPERTKEY>> keys(kGenerations);
    keys[0] = NmOpenExpertKey("race-0");
    std::atomic<int> current{0}; // keys[current] is the key workers use
    std::atomic<bool> stop{false};

    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w)
        workers.emplace_back([&, w] {
            std::mt19937 rng(w);
            struct Mine {
                void *p;
                size_t n;
                int gen;
            };
            std::vector<Mine> mine;
            while (!stop.load()) {
                int g = current.load();
                HEXPERTKEY k = keys[g].load();
                if (rng() % 2 || mine.empty()) {
                    size_t n = rng() % 256;
                    DWORD err;
                    if (void *p = ExpertAllocMemory(k, n, &err)) {
                        gens[g].blocks += 1;
                        gens[g].bytes += int64_t(n);
                        mine.push_back({p, n, g});
                    } else {
                        ASSERT_EQ(err, DWORD(NMERR_INVALID_EXPERT_HANDLE));
                    }
                } else {
                    size_t j = rng() % mine.size();
                    Mine m = mine[j];
                    mine[j] = mine.back();
                    mine.pop_back();
                    if (m.gen != g) continue; // its key was closed: the block was reclaimed
                    SIZE_T rc = ExpertFreeMemory(k, m.p);
                    if (rc == NMERR_SUCCESS) {
                        gens[g].blocks -= 1;
                        gens[g].bytes -= int64_t(m.n);
                    } else {
                        ASSERT_EQ(rc, SIZE_T(NMERR_INVALID_EXPERT_HANDLE)) << "closed under us, never anything else";
                    }
                }
            }
        });

    std::vector<NMCLEANUPINFO> reported(kGenerations);
    for (int g = 0; g < kGenerations; ++g) {
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        HEXPERTKEY old = keys[g].load();
        if (g + 1 < kGenerations) {
            std::string name = "race-" + std::to_string(g + 1);
            keys[g + 1].store(NmOpenExpertKey(name.c_str()));
            current.store(g + 1);
        } else {
            stop.store(true);
            for (auto &t : workers) t.join();
        }
        ASSERT_EQ(NmCloseExpertKey(old, NM_OUTCOME_FAILED, &reported[g]), DWORD(NMERR_SUCCESS));
    }
    // A worker that read generation g may still complete a call on it until the close has
    // quiesced the key; after that every call fails. So the tallies are final only now.
    for (int g = 0; g < kGenerations; ++g) {
        EXPECT_EQ(int64_t(reported[g].Blocks), gens[g].blocks.load()) << "generation " << g;
        EXPECT_EQ(int64_t(reported[g].Bytes), gens[g].bytes.load()) << "generation " << g;
    }
}

} // namespace

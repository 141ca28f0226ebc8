// bench_reach.cpp - times the reachability pass over N live ExpertAllocMemory blocks.
//
// Shape: N blocks of 100 bytes (1M -> 100 MB asked for) in linked lists of 500 nodes; every second
// list hangs from a global array of heads (reachable), the others from nothing (lost: one head
// definitely lost, 499 indirectly). Each node also carries 11 words of non-pointer data, so the
// scan sees the mix of pointers and integers a real heap has. --threads T runs T threads that keep
// calling ExpertAllocMemory/ExpertFreeMemory during the pass, to measure how long they are held.
//
// Reported per repetition: the pass alone (index, stop, roots, flood; stats from the pass), the
// time other threads were held, and the whole capture_snapshot(true) with classification.
//
// usage: bench_reach [--blocks N] [--threads T] [--reps R]
#include <nmleak/capture.hpp>

#include "netmon.h"
#include "nmhost.h"
#include "track/reach.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

// In .bss: a root. External linkage, so the stores into it are kept.
extern void *g_bench_heads[];
void *g_bench_heads[1 << 17];

namespace {

constexpr size_t kListLen = 500;
constexpr size_t kNode = 100;
constexpr size_t kMaxLists = 1 << 17;


struct Node {
    Node *next;
    uint64_t payload[11];
};
static_assert(sizeof(Node) <= kNode, "node fits in a block");

double secs(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

__attribute__((noinline)) void build(HEXPERTKEY key, size_t blocks) {
    const size_t lists = std::min((blocks + kListLen - 1) / kListLen, kMaxLists);
    uint64_t x = 12345;
    size_t made = 0;
    for (size_t l = 0; l < lists; ++l) {
        Node *head = nullptr;
        for (size_t i = 0; i < kListLen && made < blocks; ++i, ++made) {
            auto *n = static_cast<Node *>(ExpertAllocMemory(key, kNode, nullptr));
            if (!n) { std::fprintf(stderr, "alloc failed\n"); std::exit(1); }
            n->next = head;
            for (auto &p : n->payload) p = (x = x * 6364136223846793005ull + 1) >> 20;
            head = n;
        }
        g_bench_heads[l] = (l % 2 == 0) ? head : nullptr; // odd lists: lost
    }
}

} // namespace

int main(int argc, char **argv) {
    size_t blocks = 1'000'000;
    int threads = 0, reps = 3;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--blocks") && i + 1 < argc) blocks = std::strtoull(argv[++i], nullptr, 10);
        else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
        else { std::fprintf(stderr, "usage: bench_reach [--blocks N] [--threads T] [--reps R]\n"); return 1; }
    }
    HEXPERTKEY key = NmOpenExpertKey("bench-reach");
    auto t0 = std::chrono::steady_clock::now();
    build(key, blocks);
    auto t1 = std::chrono::steady_clock::now();
    std::printf("built %zu blocks of %zu bytes (%.1f MiB) in %.2f s\n", blocks, kNode, blocks * kNode / 1048576.0,
                secs(t0, t1));

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> ops{0};
    std::vector<std::thread> busy;
    for (int t = 0; t < threads; ++t)
        busy.emplace_back([&] {
            HEXPERTKEY k = NmOpenExpertKey("bench-reach-busy");
            while (!stop.load(std::memory_order_relaxed)) {
                void *p = ExpertAllocMemory(k, 64, nullptr);
                ExpertFreeMemory(k, p);
                ops.fetch_add(1, std::memory_order_relaxed);
            }
            NmCloseExpertKey(k, 0, nullptr);
        });

    // The block list once, for the pass-only timing.
    nm::model::Snapshot snap = nm::capture_snapshot(true);
    std::vector<nm::track::reach::BlockRef> refs;
    for (const auto &e : snap.experts)
        for (const auto &b : e.blocks) refs.push_back({b.address, b.size, true});
    std::printf("%-4s %10s %10s %10s %12s %12s %10s\n", "rep", "pass_s", "held_s", "capture_s", "reachable", "lost",
                "stopped");
    for (int r = 0; r < reps; ++r) {
        std::vector<uint8_t> out;
        nm::track::reach::Stats st;
        nm::track::reach::classify_here(refs, out, {}, &st);
        size_t reachable = 0, lost = 0;
        for (uint8_t c : out) (c == nm::track::reach::kReachable ? reachable : lost) += 1;
        auto c0 = std::chrono::steady_clock::now();
        nm::model::Snapshot s2 = nm::capture_snapshot(true);
        auto c1 = std::chrono::steady_clock::now();
        std::printf("%-4d %10.3f %10.3f %10.3f %12zu %12zu %7u/%u%s%s\n", r, st.pass_us / 1e6, st.stop_us / 1e6,
                    secs(c0, c1), reachable, lost, st.threads_stopped, st.threads, st.limits.empty() ? "" : "  ",
                    st.limits.c_str());
    }
    stop = true;
    for (auto &t : busy) t.join();
    if (threads) std::printf("busy threads did %llu alloc/free pairs\n", static_cast<unsigned long long>(ops.load()));
    return 0;
}

// Reachability of real ExpertAllocMemory blocks in this process, in shapes with a known answer:
// a global, an overwritten pointer, a list on another thread's stack, an unreachable cycle, a block
// reached only from a lost one, an interior pointer, a pointer only in a register, pointers only in
// TLS (this thread's and another's).
//
// The test keeps the blocks' addresses XOR-masked, so its own bookkeeping never points at them.
#include <gtest/gtest.h>

#include <nmleak/capture.hpp>

#include <atomic>
#include <csignal>
#include <cstring>
#include <memory>
#include <thread>
#include <time.h>
#include <unordered_map>
#include <vector>

#include "netmon.h"
#include "nmhost.h"
#include "track/reach.hpp"

namespace reach = nm::track::reach;

// Roots the shapes use (external linkage, so stores to them are kept).
extern void *g_reach_global;
extern void *g_reach_overwritten;
extern char *g_reach_interior;
void *g_reach_global = nullptr;
void *g_reach_overwritten = nullptr;
char *g_reach_interior = nullptr;
thread_local void *t_reach_tls = nullptr;

namespace {

// Tests that need other threads held by the pass's stop signal: ThreadSanitizer builds defer
// signals to their own safe points, and the pass does not stop threads there (reach.cpp).
#if defined(__SANITIZE_THREAD__)
#define NMT_NEEDS_STOPPED_THREADS() \
    GTEST_SKIP() << "ThreadSanitizer build: threads are not stopped by signal here; the plain and ASan builds run this"
#else
#define NMT_NEEDS_STOPPED_THREADS() (void)0
#endif

constexpr uintptr_t kMask = 0x5a5a5a5a5a5a5a5aull;
HEXPERTKEY g_key = nullptr;

struct Expected {
    uintptr_t masked;
    uint8_t cls;
    const char *what;
};
std::vector<Expected> *g_expect = nullptr;

void expect(void *p, uint8_t cls, const char *what) { g_expect->push_back({uintptr_t(p) ^ kMask, cls, what}); }

__attribute__((noinline)) void *alloc(size_t n) {
    void *p = ExpertAllocMemory(g_key, n, nullptr);
    std::memset(p, 0, n);
    return p;
}

__attribute__((noinline)) void make_global() {
    g_reach_global = alloc(40);
    expect(g_reach_global, reach::kReachable, "held by a global");
}

__attribute__((noinline)) void make_overwritten() {
    g_reach_overwritten = alloc(40);
    expect(g_reach_overwritten, reach::kDefinitelyLost, "only pointer overwritten");
    g_reach_overwritten = nullptr;
}

__attribute__((noinline)) void make_cycle() {
    void **a = static_cast<void **>(alloc(32));
    void **b = static_cast<void **>(alloc(32));
    a[0] = b;
    b[1] = a;
    // In address order the first is the group's head, the second is reached from it.
    void *lo = a < b ? static_cast<void *>(a) : static_cast<void *>(b);
    void *hi = a < b ? static_cast<void *>(b) : static_cast<void *>(a);
    expect(lo, reach::kDefinitelyLost, "cycle head");
    expect(hi, reach::kIndirectlyLost, "cycle member");
}

__attribute__((noinline)) void make_indirect() {
    void **parent = static_cast<void **>(alloc(64));
    void **child = static_cast<void **>(alloc(64));
    parent[3] = child;
    expect(parent, reach::kDefinitelyLost, "lost parent");
    expect(child, reach::kIndirectlyLost, "reached only from a lost block");
}

__attribute__((noinline)) void make_interior() {
    char *p = static_cast<char *>(alloc(200));
    g_reach_interior = p + 100;
    expect(p, reach::kReachable, "interior pointer");
}

__attribute__((noinline)) void make_main_tls() {
    t_reach_tls = alloc(24);
    expect(t_reach_tls, reach::kReachable, "this thread's TLS");
}

void nap() {
    timespec ts{0, 1000000};
    nanosleep(&ts, nullptr);
}

// A thread that keeps a list on its own stack and waits.
void stack_list_thread(std::atomic<int> *ready, std::atomic<int> *done) {
    struct Node {
        Node *next;
        char pad[40];
    };
    Node *volatile head = nullptr;
    for (int i = 0; i < 3; ++i) {
        Node *n = static_cast<Node *>(alloc(sizeof(Node)));
        n->next = head;
        head = n;
        expect(n, reach::kReachable, "list on a thread's stack");
    }
    ready->store(1);
    while (!done->load()) nap();
    head = nullptr;
}

void tls_thread(std::atomic<int> *ready, std::atomic<int> *done) {
    t_reach_tls = alloc(24);
    expect(t_reach_tls, reach::kReachable, "another thread's TLS");
    ready->store(1);
    while (!done->load()) nap();
}

#if defined(__x86_64__)
uintptr_t g_register_masked = 0;

__attribute__((noinline)) void *register_block() { return alloc(56); }

// Holds the block's only pointer in r15 while it spins; no memory holds it.
__attribute__((noinline)) void register_thread(std::atomic<int> *ready, std::atomic<int> *done) {
    uintptr_t p = uintptr_t(register_block());
    g_register_masked = p ^ kMask;
    asm volatile("mov %[p], %%r15\n\t"
                 "xor %[p], %[p]\n\t"
                 "movl $1, (%[ready])\n\t"
                 "1: pause\n\t"
                 "cmpl $0, (%[done])\n\t"
                 "je 1b\n\t"
                 "xor %%r15, %%r15\n\t"
                 : [p] "+r"(p)
                 : [ready] "r"(ready), [done] "r"(done)
                 : "r15", "memory", "cc");
}
#endif

struct Classes {
    std::unordered_map<uintptr_t, uint8_t> by_masked;
    reach::Stats stats;
};

__attribute__((noinline)) std::vector<reach::BlockRef> key_blocks() {
    std::vector<reach::BlockRef> refs;
    nm::model::Snapshot snap = nm::capture_snapshot(true);
    for (const auto &e : snap.experts)
        for (const auto &b : e.blocks) refs.push_back({b.address, b.size, true});
    return refs;
}

__attribute__((noinline)) Classes classify(const reach::Options &options) {
    Classes c;
    std::vector<reach::BlockRef> refs = key_blocks();
    std::vector<uint8_t> out;
    reach::classify_here(refs, out, options, &c.stats);
    for (size_t i = 0; i < refs.size(); ++i) c.by_masked[refs[i].address ^ kMask] = out[i];
    return c;
}

class ReachShapes : public ::testing::Test {
protected:
    void SetUp() override {
        g_key = NmOpenExpertKey("reach-shapes");
        ASSERT_NE(g_key, nullptr);
        g_expect = new std::vector<Expected>();
    }
    void TearDown() override {
        done_.store(1);
        for (auto &t : threads_) t.join();
        g_reach_global = nullptr;
        g_reach_interior = nullptr;
        t_reach_tls = nullptr;
        NmCloseExpertKey(g_key, NM_OUTCOME_FAILED, nullptr);
        delete g_expect;
    }
    void start(void (*fn)(std::atomic<int> *, std::atomic<int> *)) {
        auto *ready = new std::atomic<int>(0);
        readies_.emplace_back(ready);
        threads_.emplace_back(fn, ready, &done_);
        while (!ready->load()) nap();
    }
    std::atomic<int> done_{0};
    std::vector<std::thread> threads_;
    std::vector<std::unique_ptr<std::atomic<int>>> readies_;
};

TEST_F(ReachShapes, EveryShapeGetsItsClass) {
    NMT_NEEDS_STOPPED_THREADS();
    make_global();
    make_overwritten();
    make_cycle();
    make_indirect();
    make_interior();
    make_main_tls();
    start(stack_list_thread);
    start(tls_thread);
    Classes c = classify({});
    EXPECT_EQ(c.stats.threads_not_stopped, 0u) << c.stats.limits;
    EXPECT_EQ(c.stats.threads_stopped, 2u);
    for (const Expected &e : *g_expect) {
        auto it = c.by_masked.find(e.masked);
        ASSERT_NE(it, c.by_masked.end()) << e.what;
        EXPECT_EQ(int(it->second), int(e.cls)) << e.what;
    }
}

TEST_F(ReachShapes, ThisThreadsTlsIsARoot) {
    make_main_tls();
    reach::Options no_tls;
    no_tls.tls = false;
    EXPECT_EQ(int(classify({}).by_masked.at(g_expect->back().masked)), reach::kReachable);
    EXPECT_EQ(int(classify(no_tls).by_masked.at(g_expect->back().masked)), reach::kDefinitelyLost);
}

#if defined(__x86_64__)
TEST_F(ReachShapes, PointerOnlyInAnotherThreadsRegister) {
    NMT_NEEDS_STOPPED_THREADS();
    start(register_thread);
    Classes with = classify({});
    if (with.stats.threads_not_stopped) GTEST_SKIP() << "thread not stopped here: " << with.stats.limits;
    EXPECT_EQ(int(with.by_masked.at(g_register_masked)), reach::kReachable);
    reach::Options no_regs;
    no_regs.registers = false;
    EXPECT_EQ(int(classify(no_regs).by_masked.at(g_register_masked)), reach::kDefinitelyLost);
}
#endif

TEST_F(ReachShapes, ThreadsThatBlockTheSignalAreNotHarmed) {
    NMT_NEEDS_STOPPED_THREADS();
    start(stack_list_thread);
    std::atomic<int> ready{0};
    std::thread blocker([&] {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        ready.store(1);
        while (!done_.load()) nap();
    });
    while (!ready.load()) nap();
    Classes c = classify({});
    EXPECT_EQ(c.stats.threads_not_stopped, 1u);
    EXPECT_NE(c.stats.limits.find("block the stop signal"), std::string::npos) << c.stats.limits;
    EXPECT_TRUE(c.stats.safe_reads);
    for (const Expected &e : *g_expect) EXPECT_EQ(int(c.by_masked.at(e.masked)), int(e.cls)) << e.what;
    done_.store(1);
    blocker.join();
}

TEST_F(ReachShapes, InternalThreadsAreHeldButAreNotRoots) {
    NMT_NEEDS_STOPPED_THREADS();
    std::atomic<int> ready{0};
    std::thread agent([&] {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        reach::mark_internal_thread();
        void *volatile mine = alloc(32);
        expect(mine, reach::kDefinitelyLost, "held only by an internal thread");
        ready.store(1);
        while (!done_.load()) nap();
        mine = nullptr;
        reach::unmark_internal_thread();
    });
    while (!ready.load()) nap();
    Classes c = classify({});
    EXPECT_EQ(c.stats.threads_not_stopped, 0u) << c.stats.limits;
    EXPECT_FALSE(c.stats.safe_reads);
    for (const Expected &e : *g_expect) EXPECT_EQ(int(c.by_masked.at(e.masked)), int(e.cls)) << e.what;
    done_.store(1);
    agent.join();
}

TEST_F(ReachShapes, RepeatedPassesWithBusyThreads) {
    // The busy threads write block headers while the pass reads the heap: only held threads make
    // that ordered (unheld, under TSan, it is the race the limits describe).
    NMT_NEEDS_STOPPED_THREADS();
    std::atomic<int> stop{0};
    std::vector<std::thread> busy;
    for (int t = 0; t < 3; ++t)
        busy.emplace_back([&] {
            HEXPERTKEY k = NmOpenExpertKey("reach-busy");
            while (!stop.load()) ExpertFreeMemory(k, ExpertAllocMemory(k, 64, nullptr));
            NmCloseExpertKey(k, NM_OUTCOME_DONE, nullptr);
        });
    make_global();
    for (int i = 0; i < 20; ++i) {
        Classes c = classify({});
        EXPECT_EQ(int(c.by_masked.at(g_expect->back().masked)), reach::kReachable);
    }
    stop.store(1);
    for (auto &t : busy) t.join();
}

} // namespace

// reach_target.cpp - a multi-threaded program whose ExpertAllocMemory blocks have known
// reachability, for the reachability tests under `nmleak run`, at exit and in a live snapshot.
//
//   reach_target [--reachable-only]
// Prints one line per block, "block CLASS MASKED WHAT" (MASKED: the address XOR 0x5a5a5a5a5a5a5a5a,
// so the program itself never holds the address it reports), then "ready PID worker=0". Commands
// on stdin: "quit" (prints "bye" and returns from main while its threads still run).
#include "netmon.h"
#include "nmhost.h"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

extern void *g_rt_global;
extern char *g_rt_interior;
void *g_rt_global = nullptr;
char *g_rt_interior = nullptr;
thread_local void *t_rt_tls = nullptr;

namespace {

constexpr uintptr_t kMask = 0x5a5a5a5a5a5a5a5aull;
HEXPERTKEY g_key = nullptr;
std::atomic<int> g_ready{0};

__attribute__((noinline)) void *alloc(size_t n) {
    void *p = ExpertAllocMemory(g_key, n, nullptr);
    std::memset(p, 0, n);
    return p;
}

void report(const char *cls, void *p, const char *what) {
    std::printf("block %s %llx %s\n", cls, static_cast<unsigned long long>(uintptr_t(p) ^ kMask), what);
}

void nap() {
    timespec ts{0, 2000000};
    nanosleep(&ts, nullptr);
}

__attribute__((noinline)) void lost_shapes() {
    void *over = alloc(48);
    report("definitely_lost", over, "overwritten");
    void **a = static_cast<void **>(alloc(32)), **b = static_cast<void **>(alloc(32));
    a[0] = b;
    b[0] = a;
    report("definitely_lost", a < b ? static_cast<void *>(a) : static_cast<void *>(b), "cycle-head");
    report("indirectly_lost", a < b ? static_cast<void *>(b) : static_cast<void *>(a), "cycle-member");
    void **parent = static_cast<void **>(alloc(64)), **child = static_cast<void **>(alloc(64));
    parent[2] = child;
    report("definitely_lost", parent, "parent");
    report("indirectly_lost", child, "child");
}

__attribute__((noinline)) void reachable_shapes() {
    g_rt_global = alloc(40);
    report("reachable", g_rt_global, "global");
    char *p = static_cast<char *>(alloc(300));
    g_rt_interior = p + 150;
    report("reachable", p, "interior");
    t_rt_tls = alloc(24);
    report("reachable", t_rt_tls, "main-tls");
}

// Keeps a list on its own stack until the process ends.
void list_thread() {
    struct Node {
        Node *next;
        char pad[24];
    };
    Node *volatile head = nullptr;
    for (int i = 0; i < 4; ++i) {
        Node *n = static_cast<Node *>(alloc(sizeof(Node)));
        n->next = head;
        head = n;
        report("reachable", n, "stack-list");
    }
    t_rt_tls = alloc(16);
    report("reachable", t_rt_tls, "thread-tls");
    std::fflush(stdout);
    g_ready.fetch_add(1);
    for (;;) nap();
}

} // namespace

int main(int argc, char **argv) {
    const bool reachable_only = argc > 1 && std::strcmp(argv[1], "--reachable-only") == 0;
    g_key = NmOpenExpertKey("reach-target");
    reachable_shapes();
    if (!reachable_only) lost_shapes();
    std::thread(list_thread).detach();
    std::thread(list_thread).detach();
    while (g_ready.load() < 2) nap();
    std::printf("ready %d worker=0\n", int(getpid()));
    std::fflush(stdout);
    for (std::string line; std::getline(std::cin, line);) {
        if (line == "quit") {
            std::printf("bye\n");
            std::fflush(stdout);
            return 0; // the key stays open; the list threads still run
        }
    }
    return 0;
}

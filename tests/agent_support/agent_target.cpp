// agent_target.cpp - a small analyzer for the agent tests: known blocks from known functions, an
// optional self-checking worker thread, and a main thread blocked in read(2) on its stdin.
//
//   agent_target [--worker] [--hold N] [--alloc-loop]
// Prints "ready PID worker=TID" once its blocks are allocated, then reads commands, one per line
// (each answered with one line on stdout):
//   status          "status iterations=N errors=E beta=RC" (RC: key_check of key beta)
//   echo TEXT       "echo TEXT" (proves a read() that was interrupted by an attach still works)
//   child           runs sh -c 'echo child LD_PRELOAD=[$LD_PRELOAD]'
//   close-beta      closes key beta with outcome DONE (3 leaks)      -> "closed beta"
//   quit            stops the worker, leaves key alpha open, exits 0 (EOF on stdin: the same)
//   exit N          exits with status N at once
#include <netmon.h>
#include <nmhost.h>

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> g_stop{false};
std::atomic<uint64_t> g_iterations{0};
std::atomic<uint64_t> g_errors{0};
std::atomic<long> g_worker_tid{0};

void say(const std::string &line) {
    const std::string s = line + "\n";
    (void)!::write(1, s.data(), s.size());
}

} // namespace

// The tests look for these function names in the stacks of the blocks they allocated.
extern "C" __attribute__((noinline)) void nmt_alloc_known_blocks(HEXPERTKEY key, std::vector<void *> *out) {
    for (int i = 1; i <= 5; ++i) out->push_back(ExpertAllocMemory(key, 1000 + i, nullptr));
    asm volatile("" ::: "memory"); // keep the frame: not a tail call
}

extern "C" __attribute__((noinline)) void nmt_alloc_beta_blocks(HEXPERTKEY key, std::vector<void *> *out) {
    for (int i = 0; i < 3; ++i) out->push_back(ExpertAllocMemory(key, 4096, nullptr));
    asm volatile("" ::: "memory");
}

extern "C" __attribute__((noinline)) void nmt_alloc_bulk(HEXPERTKEY key, size_t n, std::vector<void *> *out) {
    out->reserve(n);
    for (size_t i = 0; i < n; ++i) out->push_back(ExpertAllocMemory(key, 32, nullptr));
    asm volatile("" ::: "memory");
}

namespace {

// Each round opens a key, fills blocks with a pattern, checks the pattern and a sum against a
// closed form, frees and closes. Any mismatch counts as an error: the attach tests assert none.
void worker() {
    g_worker_tid = long(::syscall(SYS_gettid));
    uint64_t round = 0;
    while (!g_stop.load(std::memory_order_relaxed)) {
        HEXPERTKEY key = NmOpenExpertKey("worker");
        if (!key) {
            g_errors++;
            continue;
        }
        constexpr int kBlocks = 64;
        uint32_t *blocks[kBlocks];
        uint64_t sum = 0;
        for (int b = 0; b < kBlocks; ++b) {
            const size_t words = 16 + size_t((round + b) % 48);
            blocks[b] = static_cast<uint32_t *>(ExpertAllocMemory(key, words * 4, nullptr));
            if (!blocks[b]) {
                g_errors++;
                continue;
            }
            for (size_t w = 0; w < words; ++w) blocks[b][w] = uint32_t(b * 1000 + w);
        }
        uint64_t expect = 0;
        for (int b = 0; b < kBlocks; ++b) {
            if (!blocks[b]) continue;
            const size_t words = 16 + size_t((round + b) % 48);
            if (ExpertMemorySize(key, blocks[b]) != words * 4) g_errors++;
            for (size_t w = 0; w < words; ++w) sum += blocks[b][w];
            expect += uint64_t(b) * 1000 * words + words * (words - 1) / 2;
            ExpertFreeMemory(key, blocks[b]);
        }
        if (sum != expect) g_errors++;
        NMCLEANUPINFO info{};
        if (NmCloseExpertKey(key, NM_OUTCOME_DONE, &info) != NMERR_SUCCESS || info.Blocks != 0) g_errors++;
        g_iterations++;
        ++round;
    }
}

// Allocation throughput loop for the benchmark: one key, alloc/free pairs, prints ops/s.
void alloc_loop(double seconds) {
    HEXPERTKEY key = NmOpenExpertKey("bench");
    constexpr int kSlots = 256;
    void *slots[kSlots] = {};
    uint64_t ops = 0;
    timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        for (int i = 0; i < 4096; ++i) {
            const int s = int(ops % kSlots);
            if (slots[s]) ExpertFreeMemory(key, slots[s]);
            slots[s] = ExpertAllocMemory(key, 16 + (ops * 7) % 512, nullptr);
            ++ops;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        const double el = double(t.tv_sec - t0.tv_sec) + double(t.tv_nsec - t0.tv_nsec) / 1e9;
        if (el >= seconds) {
            char line[128];
            std::snprintf(line, sizeof line, "ops_per_sec %.0f", double(ops) / el);
            say(line);
            break;
        }
    }
    for (void *p : slots)
        if (p) ExpertFreeMemory(key, p);
    NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr);
}

void run_child() {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::execl("/bin/sh", "sh", "-c", "echo \"child LD_PRELOAD=[$LD_PRELOAD]\"", static_cast<char *>(nullptr));
        ::_exit(127);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
}

} // namespace

int main(int argc, char **argv) {
    bool with_worker = false;
    size_t hold = 0;
    double loop_seconds = 0;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--worker")) with_worker = true;
        else if (!std::strcmp(argv[i], "--hold") && i + 1 < argc) hold = std::strtoull(argv[++i], nullptr, 10);
        else if (!std::strcmp(argv[i], "--alloc-loop") && i + 1 < argc) loop_seconds = std::atof(argv[++i]);
    }
    HEXPERTKEY alpha = NmOpenExpertKey("alpha");
    HEXPERTKEY beta = NmOpenExpertKey("beta");
    std::vector<void *> alpha_blocks, beta_blocks, bulk_blocks;
    nmt_alloc_known_blocks(alpha, &alpha_blocks);
    nmt_alloc_beta_blocks(beta, &beta_blocks);
    HEXPERTKEY bulk = nullptr;
    if (hold) {
        bulk = NmOpenExpertKey("bulk");
        nmt_alloc_bulk(bulk, hold, &bulk_blocks);
    }
    std::thread work;
    if (with_worker) {
        work = std::thread(worker);
        while (!g_worker_tid.load()) usleep(1000);
    }
    say("ready " + std::to_string(::getpid()) + " worker=" + std::to_string(g_worker_tid.load()));
    if (loop_seconds > 0) alloc_loop(loop_seconds);

    std::string pending;
    char buf[4096];
    int exit_code = 0;
    for (bool done = false; !done;) {
        // A plain read(2): the attach tests interrupt this thread while it is blocked here and check
        // that the read still returns the right bytes afterwards.
        const ssize_t n = ::read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            say("EINTR"); // never expected: the kernel restarts read() after a ptrace stop
            continue;
        }
        if (n <= 0) break;
        pending.append(buf, size_t(n));
        for (size_t nl; !done && (nl = pending.find('\n')) != std::string::npos;) {
            const std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            if (line == "status") {
                say("status iterations=" + std::to_string(g_iterations.load()) + " errors=" +
                    std::to_string(g_errors.load()) + " beta=" + std::to_string(beta ? ExpertIndicateStatus(beta, EXPERTSTATUS_RUNNING, 0, nullptr, 0) : 0));
            } else if (line.rfind("echo ", 0) == 0) {
                say(line);
            } else if (line == "child") {
                run_child();
            } else if (line == "close-beta") {
                NmCloseExpertKey(beta, NM_OUTCOME_DONE, nullptr);
                beta = nullptr;
                say("closed beta");
            } else if (line == "quit") {
                done = true;
            } else if (line.rfind("exit ", 0) == 0) {
                exit_code = std::atoi(line.c_str() + 5);
                std::_Exit(exit_code);
            } else {
                say("unknown " + line);
            }
        }
    }
    g_stop = true;
    if (work.joinable()) work.join();
    say("bye");
    return exit_code;
}

// bench_agent.cpp - what a live client costs the analyzer, and how fast a big snapshot arrives.
//
//   bench_agent [--seconds S] [--rounds N] [--blocks N] [--quick] [--only throughput|snapshot]
//
// 1. Throughput: a target process (this binary, --target) runs one thread of ExpertAllocMemory /
//    ExpertFreeMemory on 4096 live blocks, closing and reopening its key every 50,000 operations
//    (so every update carries new cleanups). It runs S seconds per case, in N rounds alternating:
//      baseline   no agent
//      idle       agent preloaded, no client
//      streaming  a client subscribed at a 100 ms interval, reading and merging every update
//      snapshots  as streaming, and a full snapshot with blocks requested every 500 ms
//    and the median operations per second of each case is compared with the baseline.
// 2. Snapshot delivery: a target holding --blocks live blocks (default 1,000,000); a client
//    connects and times connect -> full snapshot decoded (3 tries; best and worst).
// Timings are printed, never asserted (the smoke test runs --quick).
#include <netmon.h>
#include <nmhost.h>
#include <nmleak/protocol.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#ifndef NMB_AGENT_LIB
#error "NMB_AGENT_LIB (the path of libnmleak-agent.so) must be defined by the build"
#endif

namespace {

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// ---- the target -----------------------------------------------------------------------------

extern "C" __attribute__((noinline)) void *bench_alloc(HEXPERTKEY key, size_t n) {
    void *p = ExpertAllocMemory(key, n, nullptr);
    asm volatile("" ::: "memory");
    return p;
}

int target_main(double seconds, size_t hold) {
    std::vector<void *> held;
    HEXPERTKEY keep = NmOpenExpertKey("held");
    held.reserve(hold);
    for (size_t i = 0; i < hold; ++i) held.push_back(bench_alloc(keep, 32 + i % 64));
    std::printf("ready %d\n", int(::getpid()));
    std::fflush(stdout);
    char go[8];
    if (::read(0, go, sizeof go) <= 0) return 1; // the driver says when (after its client is in)
    if (seconds <= 0) {                          // hold mode: wait for the driver to close stdin
        while (::read(0, go, sizeof go) > 0) {
        }
        return 0;
    }
    constexpr size_t kSlots = 4096;
    std::vector<void *> slots(kSlots, nullptr);
    HEXPERTKEY key = NmOpenExpertKey("bench");
    uint64_t ops = 0;
    const double start = now_s();
    double elapsed = 0;
    while (elapsed < seconds) {
        for (int i = 0; i < 8192; ++i, ++ops) {
            const size_t s = (ops * 2654435761u) % kSlots;
            if (slots[s]) ExpertFreeMemory(key, slots[s]);
            slots[s] = bench_alloc(key, 16 + (ops * 7) % 496);
            if (ops % 50000 == 49999) {
                NmCloseExpertKey(key, NM_OUTCOME_DONE, nullptr); // a cleanup for the updates to carry
                key = NmOpenExpertKey("bench");
                std::fill(slots.begin(), slots.end(), nullptr);
            }
        }
        elapsed = now_s() - start;
    }
    std::printf("ops_per_sec %.0f\n", double(ops) / elapsed);
    NmCloseExpertKey(key, NM_OUTCOME_FAILED, nullptr);
    return 0;
}

// ---- the driver -----------------------------------------------------------------------------

struct Child {
    pid_t pid = -1;
    int in = -1;
    FILE *out = nullptr;
};

Child spawn(const char *self, bool agent, double seconds, size_t hold) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) std::exit(1);
    Child c;
    c.pid = ::fork();
    if (c.pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::close(in[1]);
        ::close(out[0]);
        if (agent) ::setenv("LD_PRELOAD", NMB_AGENT_LIB, 1);
        else ::unsetenv("LD_PRELOAD");
        const std::string s = std::to_string(seconds), h = std::to_string(hold);
        ::execl(self, self, "--target", s.c_str(), h.c_str(), static_cast<char *>(nullptr));
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    c.in = in[1];
    c.out = ::fdopen(out[0], "r");
    char line[128];
    if (!std::fgets(line, sizeof line, c.out) || std::strncmp(line, "ready", 5) != 0) {
        std::fprintf(stderr, "bench_agent: target did not start\n");
        std::exit(1);
    }
    return c;
}

double finish(Child &c) {
    ::close(c.in); // a target in hold mode exits on EOF; a timed one no longer reads
    char line[128];
    double ops = 0;
    while (std::fgets(line, sizeof line, c.out))
        if (std::sscanf(line, "ops_per_sec %lf", &ops) == 1) break;
    std::fclose(c.out);
    int st;
    ::waitpid(c.pid, &st, 0);
    return ops;
}

struct Streaming {
    std::atomic<bool> stop{false};
    uint64_t updates = 0, snapshots = 0, bytes_keys = 0;
};

// A GUI-like client: subscribed, merging every update; optionally asking for block snapshots.
void client_loop(pid_t pid, bool snapshots, Streaming *s, std::atomic<bool> *connected) {
    nm::proto::Client c;
    nm::proto::ConnectOptions o;
    o.hello_flags = nm::proto::kHelloSubscribe | nm::proto::kHelloBlocks;
    std::string error;
    for (int i = 0; i < 500 && !c.connect(pid, o, &error); ++i) usleep(2000);
    if (!c.connected()) {
        std::fprintf(stderr, "bench_agent: %s\n", error.c_str());
        std::exit(1);
    }
    nm::proto::Options opt;
    opt.mask = nm::proto::kOptUpdateInterval;
    opt.update_interval_ms = 100;
    c.send_options(opt, &error);
    *connected = true;
    nm::proto::LiveView view;
    double next_snapshot = now_s() + 0.5;
    while (!s->stop) {
        nm::proto::Message m;
        const nm::proto::ReadStatus st = c.read(&m, 50, &error);
        if (st == nm::proto::ReadStatus::Closed || st == nm::proto::ReadStatus::Failed) break;
        if (st == nm::proto::ReadStatus::Message && view.apply(m))
            (m.type == nm::proto::MessageType::Update ? s->updates : s->snapshots)++;
        if (snapshots && now_s() > next_snapshot) {
            c.send_snapshot_request(true, &error);
            next_snapshot = now_s() + 0.5;
        }
    }
    s->bytes_keys = view.snapshot().experts.size();
}

double run_case(const char *self, int mode, double seconds, Streaming *stats) {
    // mode: 0 baseline, 1 idle agent, 2 streaming client, 3 streaming + snapshots
    Child c = spawn(self, mode > 0, seconds, 0);
    std::thread client;
    std::atomic<bool> connected{mode < 2};
    if (mode >= 2) client = std::thread(client_loop, c.pid, mode == 3, stats, &connected);
    while (!connected) usleep(1000);
    (void)!::write(c.in, "g", 1);
    const double ops = finish(c);
    if (client.joinable()) {
        stats->stop = true;
        client.join();
    }
    return ops;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

void snapshot_delivery(const char *self, size_t blocks) {
    Child c = spawn(self, true, 0, blocks);
    (void)!::write(c.in, "g", 1);
    std::vector<double> times;
    size_t got_blocks = 0, frame_bytes = 0;
    for (int i = 0; i < 3; ++i) {
        const double t0 = now_s();
        nm::proto::Client client;
        nm::proto::ConnectOptions o;
        o.hello_flags = nm::proto::kHelloBlocks;
        std::string error;
        if (!client.connect(c.pid, o, &error)) {
            std::fprintf(stderr, "bench_agent: %s\n", error.c_str());
            std::exit(1);
        }
        nm::proto::Message m;
        if (client.read(&m, 60000, &error) != nm::proto::ReadStatus::Message ||
            m.type != nm::proto::MessageType::Snapshot) {
            std::fprintf(stderr, "bench_agent: no snapshot: %s\n", error.c_str());
            std::exit(1);
        }
        times.push_back(now_s() - t0);
        got_blocks = 0;
        for (const auto &e : m.snapshot.experts) got_blocks += e.blocks.size();
        std::vector<uint8_t> again;
        nm::proto::encode_snapshot_frame(nm::proto::MessageType::Snapshot, 0, 0, m.snapshot, &again, &error);
        frame_bytes = again.size();
    }
    finish(c);
    std::sort(times.begin(), times.end());
    std::printf("\nfull snapshot of %zu live blocks, connect -> decoded model (3 tries):\n", got_blocks);
    std::printf("  best %.3f s, worst %.3f s; frame %.1f MiB on the wire\n", times.front(), times.back(),
                double(frame_bytes) / (1 << 20));
}

void throughput(const char *self, double seconds, int rounds);

} // namespace

int main(int argc, char **argv) {
    if (argc >= 4 && std::strcmp(argv[1], "--target") == 0)
        return target_main(std::atof(argv[2]), std::strtoull(argv[3], nullptr, 10));
    double seconds = 3;
    int rounds = 5;
    size_t blocks = 1000000;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--blocks") && i + 1 < argc) blocks = std::strtoull(argv[++i], nullptr, 10);
        else if (!std::strcmp(argv[i], "--quick")) seconds = 0.3, rounds = 1, blocks = 20000;
        else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    }
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    ::signal(SIGPIPE, SIG_IGN);

    if (only != "snapshot") throughput(self, seconds, rounds);
    if (only != "throughput") snapshot_delivery(self, blocks);
    return 0;
}

namespace {

void throughput(const char *self, double seconds, int rounds) {
    const char *names[] = {"baseline (no agent)", "agent, no client", "client streaming updates",
                           "streaming + snapshot/0.5 s"};
    std::vector<double> ops[4];
    Streaming stats[4];
    for (int r = 0; r < rounds; ++r)
        for (int mode = 0; mode < 4; ++mode) {
            Streaming s;
            ops[mode].push_back(run_case(self, mode, seconds, &s));
            stats[mode].updates += s.updates;
            stats[mode].snapshots += s.snapshots;
        }
    const double base = median(ops[0]);
    std::printf("allocation throughput, 1 thread, %d rounds x %.1f s (median):\n", rounds, seconds);
    for (int mode = 0; mode < 4; ++mode) {
        std::printf("  %-28s %12.0f ops/s  %.3fx of baseline", names[mode], median(ops[mode]),
                    base / std::max(1.0, median(ops[mode])));
        if (mode >= 2)
            std::printf("  (%llu updates, %llu snapshots received)", static_cast<unsigned long long>(stats[mode].updates),
                        static_cast<unsigned long long>(stats[mode].snapshots));
        std::printf("\n");
    }
}

} // namespace

// bench_history.cpp - does an agent update, or a close, cost more with a long closed-key history?
//
//   bench_history [--rounds N] [--ticks N] [--small N] [--large N] [--quick]
//
// Each round forks one process per history size (--small keys, default 100, then --large, default
// 100,000, so the two sizes alternate round by round on the same machine). A process opens and
// closes that many keys first (each leaving one 64-byte block behind, so none of them may be
// folded away), takes a full snapshot into a client baseline, as the agent does for a new client,
// and then runs --ticks ticks of what a busy analyzer does between two agent updates: 10 keys
// opened, given a block, closed, and then the agent's update for that client (Source::refresh +
// Source::delta, the update symbolized). It reports the median time of one close and of one
// update. Printed are the per-size medians and the median over rounds of the per-round ratio
// large / small. Timings are printed, never asserted (the smoke test runs --quick).
#include <netmon.h>
#include <nmhost.h>
#include <nmleak/live.hpp>

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

double now_us() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Result {
    double close_us = 0;  // one NmCloseExpertKey of a key with one block left
    double update_us = 0; // one refresh + delta carrying 10 closed keys
    double fill_s = 0;    // making the history
    size_t update_keys = 0;
};

extern "C" __attribute__((noinline)) void *nmb_history_alloc(HEXPERTKEY key, size_t n) {
    void *p = ExpertAllocMemory(key, n, nullptr);
    asm volatile("" ::: "memory");
    return p;
}

Result measure(size_t history, int ticks) {
    Result r;
    const double t0 = now_us();
    for (size_t i = 0; i < history; ++i) {
        HEXPERTKEY k = NmOpenExpertKey("history");
        nmb_history_alloc(k, 64);
        NmCloseExpertKey(k, NM_OUTCOME_DONE, nullptr);
    }
    r.fill_s = (now_us() - t0) / 1e6;

    nm::live::Source src;
    nm::live::Baseline base;
    src.full(false, &base);
    std::vector<double> closes, updates;
    for (int t = 0; t < ticks; ++t) {
        for (int i = 0; i < 10; ++i) {
            HEXPERTKEY k = NmOpenExpertKey("tick");
            nmb_history_alloc(k, 64);
            const double c0 = now_us();
            NmCloseExpertKey(k, NM_OUTCOME_DONE, nullptr);
            closes.push_back(now_us() - c0);
        }
        nm::model::Snapshot u;
        const double u0 = now_us();
        src.refresh();
        const bool changed = src.delta(&base, &u);
        updates.push_back(now_us() - u0);
        if (!changed) {
            std::fprintf(stderr, "bench_history: an update after 10 closes carried nothing\n");
            std::exit(2);
        }
        r.update_keys += u.experts.size();
    }
    r.close_us = median(closes);
    r.update_us = median(updates);
    return r;
}

// Runs measure() in a child, so each history starts from an empty tracker.
bool run_child(size_t history, int ticks, Result *out) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    const pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        close(fds[0]);
        Result r = measure(history, ticks);
        const ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == ssize_t(sizeof r) ? 0 : 1);
    }
    close(fds[1]);
    Result r;
    const ssize_t got = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != ssize_t(sizeof r) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return false;
    *out = r;
    return true;
}

} // namespace

int main(int argc, char **argv) {
    int rounds = 5, ticks = 200;
    size_t small = 100, large = 100000;
    for (int i = 1; i < argc; ++i) {
        auto next = [&](const char *opt) -> const char * {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_history: %s needs a value\n", opt);
                std::exit(2);
            }
            return argv[++i];
        };
        if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(next("--rounds"));
        else if (!std::strcmp(argv[i], "--ticks")) ticks = std::atoi(next("--ticks"));
        else if (!std::strcmp(argv[i], "--small")) small = std::strtoull(next("--small"), nullptr, 10);
        else if (!std::strcmp(argv[i], "--large")) large = std::strtoull(next("--large"), nullptr, 10);
        else if (!std::strcmp(argv[i], "--quick")) rounds = 1, ticks = 5, small = 10, large = 1000;
        else {
            std::fprintf(stderr, "usage: bench_history [--rounds N] [--ticks N] [--small N] [--large N] [--quick]\n");
            return 2;
        }
    }
    if (rounds < 1 || ticks < 1) {
        std::fprintf(stderr, "bench_history: --rounds and --ticks must be at least 1\n");
        return 2;
    }
    std::printf("closed-key history %zu vs %zu keys, %d rounds of %d ticks (10 closes + 1 update each)\n",
                small, large, rounds, ticks);
    std::vector<double> sc, su, lc, lu, rc, ru;
    for (int r = 0; r < rounds; ++r) {
        Result a, b;
        if (!run_child(small, ticks, &a) || !run_child(large, ticks, &b)) {
            std::fprintf(stderr, "bench_history: a measuring process failed\n");
            return 1;
        }
        std::printf("round %d: close %.2f / %.2f us, update %.1f / %.1f us (history made in %.2f / %.2f s)\n",
                    r + 1, a.close_us, b.close_us, a.update_us, b.update_us, a.fill_s, b.fill_s);
        sc.push_back(a.close_us), lc.push_back(b.close_us), rc.push_back(b.close_us / a.close_us);
        su.push_back(a.update_us), lu.push_back(b.update_us), ru.push_back(b.update_us / a.update_us);
        std::fflush(stdout);
    }
    std::printf("close:  %zu keys %.2f us, %zu keys %.2f us, ratio %.2f (median of per-round ratios)\n",
                small, median(sc), large, median(lc), median(rc));
    std::printf("update: %zu keys %.1f us, %zu keys %.1f us, ratio %.2f (median of per-round ratios)\n",
                small, median(su), large, median(lu), median(ru));
    return 0;
}

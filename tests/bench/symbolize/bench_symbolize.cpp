// bench_symbolize.cpp - what symbolizing costs the snapshots of one process: the first snapshot, a
// second one after a module change (dlopen + dlclose), a third with nothing changed, and the same
// frames resolved by a fresh Symbolizer (what every snapshot paid while each made its own).
//
// usage: bench_symbolize    (prints the figures; asserts nothing)
#include <netmon.h>
#include <nmhost.h>
#include <nmleak/capture.hpp>

#include "model/symbolize.hpp"

#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

namespace {

HEXPERTKEY g_key;
std::vector<void *> g_blocks;

// A chain of distinct functions: every N gives other return addresses, so the snapshot holds a few
// hundred distinct frames.
template <int N> __attribute__((noinline)) void chain(int depth) {
    if (depth == 0) {
        g_blocks.push_back(ExpertAllocMemory(g_key, 16 + N, nullptr));
        asm volatile("" ::: "memory");
        return;
    }
    if constexpr (N > 0) chain<N - 1>(depth - 1);
    else chain<0>(depth - 1);
    asm volatile("" ::: "memory");
}
template <int... I> void all(std::integer_sequence<int, I...>) { (chain<I>(I % 24), ...); }

// Called by libc's qsort: frames in a second module.
int compare(const void *a, const void *b) {
    all(std::make_integer_sequence<int, 30>{});
    return *static_cast<const int *>(a) - *static_cast<const int *>(b);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

int main() {
    g_key = NmOpenExpertKey("bench-symbolize");
    all(std::make_integer_sequence<int, 200>{});
    int v[3] = {3, 1, 2};
    std::qsort(v, 3, sizeof v[0], compare);

    auto t0 = std::chrono::steady_clock::now();
    const nm::model::Snapshot first = nm::capture_snapshot(true);
    const double first_ms = ms_since(t0);

    void *h = dlopen("libthread_db.so.1", RTLD_NOW); // a module change between two snapshots
    if (h != nullptr) dlclose(h);
    t0 = std::chrono::steady_clock::now();
    const nm::model::Snapshot second = nm::capture_snapshot(true);
    const double second_ms = ms_since(t0);

    t0 = std::chrono::steady_clock::now();
    const nm::model::Snapshot third = nm::capture_snapshot(true);
    const double third_ms = ms_since(t0);

    std::vector<uint64_t> addrs;
    for (const auto &f : first.frames) addrs.push_back(f.address);
    t0 = std::chrono::steady_clock::now();
    size_t named = 0;
    {
        nm::Symbolizer fresh;
        for (const auto &f : fresh.resolve(addrs)) named += !f.function.empty();
    }
    const double fresh_ms = ms_since(t0);

    std::printf("frames %zu (%zu named), blocks %zu, modules loaded %zu\n", first.frames.size(), named,
                g_blocks.size(), nm::process_symbolizer().modules_loaded());
    std::printf("snapshot: first %.1f ms, second after dlopen+dlclose %.1f ms, third %.1f ms\n", first_ms,
                second_ms, third_ms);
    std::printf("the same frames with a fresh Symbolizer: %.1f ms\n", fresh_ms);
    for (void *p : g_blocks) ExpertFreeMemory(g_key, p);
    NmCloseExpertKey(g_key, NM_OUTCOME_DONE, nullptr);
    return second.frames.size() == first.frames.size() && third.frames.size() == first.frames.size() ? 0 : 1;
}

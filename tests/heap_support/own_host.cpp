// own_host.cpp - a libnmapi host that is not nmleak's runner: it loads heap_expert.so with dlopen
// and calls its Run itself, on its main thread, with keys it opens and closes itself
// (NmOpenExpertKey, NmCloseExpertKey). Two runs ("own-1", then "own-2"), and between them a
// 777-byte leak of the host's own on the same thread. Prints what each close reclaimed.
#include <netmon.h>
#include <nmhost.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "load_run.hpp"

namespace {

using nmt::RunFn;

__attribute__((noinline)) void own_host_leak() {
    void *p = std::malloc(777);
    std::memset(p, 5, 777);
    asm volatile("" : : "r"(p) : "memory");
}

int run_once(RunFn run, const char *name) {
    HEXPERTKEY key = NmOpenExpertKey(name);
    if (!key) return 2;
    const BOOL ok = run(key, nullptr, nullptr, 0, nullptr);
    NMCLEANUPINFO info{};
    if (NmCloseExpertKey(key, ok ? NM_OUTCOME_DONE : NM_OUTCOME_FAILED, &info) != NMERR_SUCCESS) return 2;
    std::printf("%s: run %s, close reclaimed %lu blocks, %lu bytes\n", name, ok ? "true" : "false",
                static_cast<unsigned long>(info.Blocks), static_cast<unsigned long>(info.Bytes));
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    const RunFn run = nmt::load_run(argc, argv);
    if (!run) return 2;
    unsetenv("NMT_HEAP_MODE"); // the expert's leak run
    if (run_once(run, "own-1") != 0) return 2;
    own_host_leak(); // this thread called the API with own-1's key last: still the host's block
    if (run_once(run, "own-2") != 0) return 2;
    return 0;
}

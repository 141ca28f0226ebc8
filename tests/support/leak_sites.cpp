// leak_sites.cpp - a host program with known leak sites, for the tests of the report readers.
//
// usage: nmt_leak_sites [REPORT FORMAT]...
// Runs three keys through the host API and writes each (REPORT, FORMAT) pair with NmWriteReport;
// NMLEAK_REPORT, if set, writes one more at exit. What it leaves behind, exactly:
//   key "leaky"  closed done:     3 x 100 bytes from leak_site_alpha, 1 x 4096 from leak_site_beta
//   key "crashy" closed failed:   2 x 512 bytes from cleanup_site_gamma (a forced cleanup)
//   key "holder" still open:      7 x 64 bytes from held_site_delta, nothing points to them (lost)
//   key "tidy"   closed done:     nothing (it frees its one block)
#include <netmon.h>
#include <nmhost.h>

#include <cstdio>

extern "C" {
__attribute__((noinline)) void leak_site_alpha(HEXPERTKEY key) {
    for (int i = 0; i < 3; ++i) ExpertAllocMemory(key, 100, nullptr);
    asm volatile("" ::: "memory"); // keep the call from being a tail call
}
__attribute__((noinline)) void leak_site_beta(HEXPERTKEY key) {
    ExpertAllocMemory(key, 4096, nullptr);
    asm volatile("" ::: "memory");
}
__attribute__((noinline)) void cleanup_site_gamma(HEXPERTKEY key) {
    for (int i = 0; i < 2; ++i) ExpertAllocMemory(key, 512, nullptr);
    asm volatile("" ::: "memory");
}
__attribute__((noinline)) void held_site_delta(HEXPERTKEY key) {
    for (int i = 0; i < 7; ++i) ExpertAllocMemory(key, 64, nullptr);
    asm volatile("" ::: "memory");
}
// Overwrites the stack below the caller, where the dead frames of the calls above left copies of
// the pointers they dropped: the reachability pass scans the stack, and would take a stale copy
// for a live reference.
__attribute__((noinline)) void clobber_stack() {
    char buf[16384];
    __builtin_memset(buf, 0, sizeof buf);
    asm volatile("" ::"r"(buf) : "memory");
}
}

int main(int argc, char **argv) {
    HEXPERTKEY leaky = NmOpenExpertKey("leaky");
    leak_site_alpha(leaky);
    leak_site_beta(leaky);
    NmCloseExpertKey(leaky, NM_OUTCOME_DONE, nullptr);

    HEXPERTKEY crashy = NmOpenExpertKey("crashy");
    cleanup_site_gamma(crashy);
    NmCloseExpertKey(crashy, NM_OUTCOME_FAILED, nullptr);

    HEXPERTKEY tidy = NmOpenExpertKey("tidy");
    ExpertFreeMemory(tidy, ExpertAllocMemory(tidy, 32, nullptr));
    NmCloseExpertKey(tidy, NM_OUTCOME_DONE, nullptr);

    HEXPERTKEY holder = NmOpenExpertKey("holder");
    held_site_delta(holder);
    clobber_stack();

    for (int i = 1; i + 1 < argc; i += 2) {
        if (NmWriteReport(argv[i], argv[i + 1]) != NMERR_SUCCESS) {
            std::fprintf(stderr, "nmt_leak_sites: NmWriteReport(%s, %s) failed\n", argv[i], argv[i + 1]);
            return 2;
        }
    }
    return 0;
}

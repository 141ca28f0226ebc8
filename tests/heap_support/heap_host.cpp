// heap_host.cpp - a libnmapi host for the whole-heap expert tests: runs heap_expert.so once per
// mode given on the command line ("leak", "fail", "reclaim"), then, with "free-kept", frees the
// buffer the failed run left behind (through the expert's exported pointer), and with
// "check-kept" checks and frees the blocks the reclaim run kept; "set-reclaim" turns the reclaim of
// left-behind blocks on through the host API. Leaks 777 bytes of its own.
#include <dlfcn.h>
#include <nmhost.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

__attribute__((noinline)) void host_leak() {
    void *p = std::malloc(777);
    std::memset(p, 5, 777);
    asm volatile("" : : "r"(p) : "memory");
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s EXPERT.so MODE...\n", argv[0]);
        return 2;
    }
    NMEXPERT *expert = nullptr;
    char error[512] = {};
    if (NmLoadExpert(argv[1], &expert, error, sizeof error) != NMERR_SUCCESS) {
        std::fprintf(stderr, "load: %s\n", error);
        return 2;
    }
    host_leak();
    for (int i = 2; i < argc; ++i) {
        const std::string mode = argv[i];
        if (mode == "bench-host") { // the same loop on the host's own thread: module key path
            void *self = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
            auto *bench = self ? reinterpret_cast<double (*)(int)>(dlsym(self, "nmt_malloc_free_ns")) : nullptr;
            if (!bench) return 3;
            std::printf("host thread: %.1f ns per malloc+free\n", bench(2000000));
            continue;
        }
        if (mode == "set-reclaim") { // the host API's switch for the reclaim of left-behind blocks
            std::printf("set reclaim: %u, bad mode: %u\n", unsigned(NmSetLeftBehindReclaim(NM_RECLAIM_UNREACHABLE)),
                        unsigned(NmSetLeftBehindReclaim(7)));
            continue;
        }
        if (mode == "check-kept") { // the reclaim run's kept blocks: intact, then freed
            void *self = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
            char **list = self ? static_cast<char **>(dlsym(self, "nmt_kept_list")) : nullptr;
            if (!list || !list[0]) return 3;
            char *inner = nullptr;
            std::memcpy(&inner, list[0], sizeof inner);
            bool intact = inner != nullptr;
            for (int k = 0; k < 333 && intact; ++k) intact = inner[k] == 'z';
            for (int b = 0; b < 3 && intact; ++b)
                for (int k = b == 0 ? int(sizeof inner) : 0; k < 700 && intact; ++k) intact = list[b][k] == 'a' + b;
            std::printf("kept blocks %s\n", intact ? "intact" : "CHANGED");
            delete[] inner;
            for (int b = 0; b < 3; ++b) {
                delete[] list[b];
                list[b] = nullptr;
            }
            continue;
        }
        if (mode == "free-kept") {
            void *self = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
            void **kept = self ? static_cast<void **>(dlsym(self, "nmt_kept")) : nullptr;
            if (!kept || !*kept) return 3;
            delete[] static_cast<char *>(*kept);
            *kept = nullptr;
            std::printf("freed the kept buffer\n");
            continue;
        }
        setenv("NMT_HEAP_MODE", mode.c_str(), 1);
        NMRUNOPTIONS opts{};
        const std::string name = "heap-" + mode;
        opts.szKeyName = name.c_str();
        NMRUN *run = nullptr;
        if (NmStartExpert(expert, &opts, &run, error, sizeof error) != NMERR_SUCCESS) {
            std::fprintf(stderr, "start: %s\n", error);
            return 2;
        }
        NMRUNRESULT result{};
        if (mode == "fail") {
            // Terminate once the run holds its memory.
            void *self = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
            auto *holding = self ? static_cast<volatile int *>(dlsym(self, "nmt_holding")) : nullptr;
            if (!holding) return 3;
            while (!__atomic_load_n(holding, __ATOMIC_ACQUIRE) && NmWaitExpert(run, 2, nullptr) == NMERR_TIMEOUT) {}
            NmTerminateRun(run);
        }
        NmWaitExpert(run, NM_WAIT_INFINITE, &result);
        std::printf("%s: outcome %u, reclaimed %zu blocks %zu bytes\n", name.c_str(), unsigned(result.Outcome),
                    size_t(result.Cleanup.Blocks), size_t(result.Cleanup.Bytes));
        NmFreeRun(run);
    }
    NmFreeExpert(expert);
    return 0;
}

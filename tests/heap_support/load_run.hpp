// load_run.hpp - the test hosts that call an expert's Run themselves (not through nmleak's
// runner): load EXPERT.so, the one argument, and find its Run.
#pragma once

#include <dlfcn.h>
#include <netmon.h>

#include <cstdio>

namespace nmt {

using RunFn = BOOL(WINAPI *)(HEXPERTKEY, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND);

// The Run of argv[1], or nullptr with the reason on stderr (usage, or what dlopen/dlsym said).
inline RunFn load_run(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s EXPERT.so\n", argv[0]);
        return nullptr;
    }
    void *h = dlopen(argv[1], RTLD_NOW);
    auto run = h ? reinterpret_cast<RunFn>(dlsym(h, "Run")) : nullptr;
    if (!run) std::fprintf(stderr, "load: %s\n", dlerror());
    return run;
}

} // namespace nmt

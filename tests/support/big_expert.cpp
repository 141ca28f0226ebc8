// big_expert.cpp - a test expert that leaks one 10 GiB block and one small one: the demo table
// must show such sizes with units in columns that hold. The big block is never touched, so it
// costs address space only.
#include <netmon.h>

#include <cstring>

extern "C" {

__attribute__((visibility("default"))) BOOL WINAPI Register(PEXPERTENUMINFO info) {
    std::strncpy(info->szName, "big-block", EXPERTSTRINGLENGTH - 1);
    return TRUE;
}

__attribute__((visibility("default"))) BOOL WINAPI Run(HEXPERTKEY key, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    DWORD error = 0;
    if (!ExpertAllocMemory(key, SIZE_T(10) << 30, &error)) {
        ExpertIndicateStatus(key, EXPERTSTATUS_RUNNING, 0, "no room for a 10 GiB block here", 0);
        return FALSE;
    }
    ExpertAllocMemory(key, 100, nullptr);
    return TRUE; // both left behind: leaks of a "done" run
}

} // extern "C"

// broken_expert.cpp - experts that must fail to load: built three times, each missing or breaking
// one entry point (NMT_BROKEN_NO_RUN, NMT_BROKEN_NO_REGISTER, NMT_BROKEN_REGISTER_CRASHES).
#include <netmon.h>

#include <cstdint>
#include <cstring>

extern "C" {

#if !defined(NMT_BROKEN_NO_REGISTER)
__attribute__((visibility("default"))) BOOL WINAPI Register(PEXPERTENUMINFO info) {
#if defined(NMT_BROKEN_REGISTER_CRASHES)
    static volatile uintptr_t wild = 0x20;
    *reinterpret_cast<volatile int *>(wild) = 1; // the host must survive this
#endif
    std::strncpy(info->szName, "broken", EXPERTSTRINGLENGTH - 1);
    return TRUE;
}
#endif

#if !defined(NMT_BROKEN_NO_RUN)
__attribute__((visibility("default"))) BOOL WINAPI Run(HEXPERTKEY, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    return TRUE;
}
#endif

} // extern "C"

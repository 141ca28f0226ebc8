// broken_expert.cpp - experts that must fail to load: built once per way of breaking the load
// (NMT_BROKEN_NO_RUN, NMT_BROKEN_NO_REGISTER, NMT_BROKEN_REGISTER_CRASHES, NMT_BROKEN_VERSION: a
// Version other than 0, NMT_BROKEN_CONFIGURABLE: EXPERT_ENUM_FLAG_CONFIGURABLE without Configure).
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
#if defined(NMT_BROKEN_VERSION)
    info->Version = 2;
#endif
#if defined(NMT_BROKEN_CONFIGURABLE)
    info->Flags = EXPERT_ENUM_FLAG_CONFIGURABLE;
#endif
    return TRUE;
}
#endif

#if !defined(NMT_BROKEN_NO_RUN)
__attribute__((visibility("default"))) BOOL WINAPI Run(HEXPERTKEY, PEXPERTCONFIG, PEXPERTSTARTUPINFO, DWORD, HWND) {
    return TRUE;
}
#endif

} // extern "C"

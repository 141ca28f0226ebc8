// unwind.cpp - stack bounds and the optional libunwind back end.
#include "track/unwind.hpp"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

#include <atomic>
#include <cstdio>

namespace nm::track {
namespace {

using unw_backtrace_fn = int (*)(void **, int);
std::atomic<unw_backtrace_fn> g_unw_backtrace{nullptr};
uintptr_t g_self_lo = 0, g_self_hi = 0; // this library's text, to drop our own frames

int self_text_cb(dl_phdr_info *info, size_t, void *base) {
    if (reinterpret_cast<void *>(info->dlpi_addr) != base) return 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto &ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
            g_self_lo = info->dlpi_addr + ph.p_vaddr;
            g_self_hi = g_self_lo + ph.p_memsz;
        }
    }
    return 1;
}

void find_self_text() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void *>(&find_self_text), &info) && info.dli_fbase)
        dl_iterate_phdr(self_text_cb, info.dli_fbase);
}

} // namespace

StackBounds current_stack_bounds() noexcept {
    StackBounds b;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr = nullptr;
        size_t size = 0;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            b.lo = reinterpret_cast<uintptr_t>(addr);
            b.hi = b.lo + size;
        }
        pthread_attr_destroy(&attr);
    }
    return b;
}

bool load_libunwind() noexcept {
    if (g_unw_backtrace.load(std::memory_order_acquire)) return true;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    void *sym = h ? dlsym(h, "unw_backtrace") : nullptr;
    if (!sym) {
        std::fprintf(stderr, "nmleak: NMLEAK_UNWIND=libunwind but libunwind.so.8 cannot be used (%s); "
                             "using frame pointers\n", dlerror());
        return false;
    }
    find_self_text();
    g_unw_backtrace.store(reinterpret_cast<unw_backtrace_fn>(sym), std::memory_order_release);
    return true;
}

size_t unwind_with_libunwind(uintptr_t *out, size_t max) noexcept {
    unw_backtrace_fn fn = g_unw_backtrace.load(std::memory_order_acquire);
    if (!fn) return 0;
    void *buf[96];
    int got = fn(buf, 96);
    size_t n = 0;
    int i = 0;
    // Skip the frames inside libnmapi (the unwinder call, the API function).
    while (i < got && reinterpret_cast<uintptr_t>(buf[i]) >= g_self_lo &&
           reinterpret_cast<uintptr_t>(buf[i]) < g_self_hi)
        ++i;
    for (; i < got && n < max; ++i) out[n++] = reinterpret_cast<uintptr_t>(buf[i]);
    return n;
}

} // namespace nm::track

// heap_shim.cpp - libnmleak-heap.so: the C and C++ heap of any program, interposed by LD_PRELOAD.
//
// Every function here only forwards to nm::heap (core/src/track/heap_ops.cpp), passing its own
// frame so the stack starts at its caller. The object is built with frame pointers and without
// sibling calls, so that frame is really there while the tracker walks from it. Nothing in this
// file may allocate.
#include <nmleak/heap.hpp>
#include <nmleak/tracker.hpp>

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <new>

#define NM_SHIM extern "C" __attribute__((visibility("default")))
#define FRAME __builtin_frame_address(0)

using nm::heap::Fn;

namespace {

constexpr size_t kMinAlign = 16;

bool power_of_two(size_t a) { return a && !(a & (a - 1)); }

size_t page_size() {
    static size_t page = size_t(sysconf(_SC_PAGESIZE));
    return page;
}

// operator new: retry through the new-handler, then throw (the nothrow forms catch this).
void *new_or_throw(size_t n, size_t align, Fn fn, const void *frame) {
    for (;;) {
        if (void *p = nm::heap::allocate(n, align, fn, false, frame)) return p;
        std::new_handler h = std::get_new_handler();
        if (!h) throw std::bad_alloc();
        h();
    }
}

} // namespace

NM_SHIM void *malloc(size_t n) { return nm::heap::allocate(n, 0, Fn::Malloc, false, FRAME); }
NM_SHIM void free(void *p) { nm::heap::release(p, Fn::Malloc, FRAME); }
NM_SHIM void *calloc(size_t count, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return nullptr;
    }
    return nm::heap::allocate(n, 0, Fn::Malloc, true, FRAME);
}
NM_SHIM void *realloc(void *p, size_t n) { return nm::heap::reallocate(p, n, FRAME); }
NM_SHIM void *reallocarray(void *p, size_t count, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return nullptr;
    }
    return nm::heap::reallocate(p, n, FRAME);
}
NM_SHIM int posix_memalign(void **out, size_t align, size_t n) {
    if (!power_of_two(align) || align % sizeof(void *)) return EINVAL;
    void *p = nm::heap::allocate(n, align < kMinAlign ? 0 : align, Fn::Malloc, false, FRAME);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
NM_SHIM void *aligned_alloc(size_t align, size_t n) {
    if (!power_of_two(align)) {
        errno = EINVAL;
        return nullptr;
    }
    return nm::heap::allocate(n, align < kMinAlign ? 0 : align, Fn::Malloc, false, FRAME);
}
NM_SHIM void *memalign(size_t align, size_t n) {
    // glibc rounds a bad alignment up to the next power of two.
    size_t a = kMinAlign;
    while (a < align && a) a <<= 1;
    if (!a) {
        errno = EINVAL;
        return nullptr;
    }
    return nm::heap::allocate(n, a <= kMinAlign ? 0 : a, Fn::Malloc, false, FRAME);
}
NM_SHIM void *valloc(size_t n) { return nm::heap::allocate(n, page_size(), Fn::Malloc, false, FRAME); }
NM_SHIM void *pvalloc(size_t n) {
    const size_t page = page_size();
    size_t rounded;
    if (__builtin_add_overflow(n, page - 1, &rounded)) {
        errno = ENOMEM;
        return nullptr;
    }
    return nm::heap::allocate(rounded & ~(page - 1), page, Fn::Malloc, false, FRAME);
}
NM_SHIM size_t malloc_usable_size(void *p) { return nm::heap::usable_size(p); }

// ---- C++ ------------------------------------------------------------------------------------

#define NM_NEW __attribute__((visibility("default")))

NM_NEW void *operator new(size_t n) { return new_or_throw(n, 0, Fn::New, FRAME); }
NM_NEW void *operator new[](size_t n) { return new_or_throw(n, 0, Fn::NewArray, FRAME); }
NM_NEW void *operator new(size_t n, const std::nothrow_t &) noexcept {
    try { return new_or_throw(n, 0, Fn::New, FRAME); } catch (...) { return nullptr; }
}
NM_NEW void *operator new[](size_t n, const std::nothrow_t &) noexcept {
    try { return new_or_throw(n, 0, Fn::NewArray, FRAME); } catch (...) { return nullptr; }
}
NM_NEW void *operator new(size_t n, std::align_val_t a) { return new_or_throw(n, size_t(a), Fn::New, FRAME); }
NM_NEW void *operator new[](size_t n, std::align_val_t a) { return new_or_throw(n, size_t(a), Fn::NewArray, FRAME); }
NM_NEW void *operator new(size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    try { return new_or_throw(n, size_t(a), Fn::New, FRAME); } catch (...) { return nullptr; }
}
NM_NEW void *operator new[](size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    try { return new_or_throw(n, size_t(a), Fn::NewArray, FRAME); } catch (...) { return nullptr; }
}

NM_NEW void operator delete(void *p) noexcept { nm::heap::release(p, Fn::New, FRAME); }
NM_NEW void operator delete[](void *p) noexcept { nm::heap::release(p, Fn::NewArray, FRAME); }
NM_NEW void operator delete(void *p, size_t) noexcept { nm::heap::release(p, Fn::New, FRAME); }
NM_NEW void operator delete[](void *p, size_t) noexcept { nm::heap::release(p, Fn::NewArray, FRAME); }
NM_NEW void operator delete(void *p, const std::nothrow_t &) noexcept { nm::heap::release(p, Fn::New, FRAME); }
NM_NEW void operator delete[](void *p, const std::nothrow_t &) noexcept { nm::heap::release(p, Fn::NewArray, FRAME); }
NM_NEW void operator delete(void *p, std::align_val_t) noexcept { nm::heap::release(p, Fn::New, FRAME); }
NM_NEW void operator delete[](void *p, std::align_val_t) noexcept { nm::heap::release(p, Fn::NewArray, FRAME); }
NM_NEW void operator delete(void *p, size_t, std::align_val_t) noexcept { nm::heap::release(p, Fn::New, FRAME); }
NM_NEW void operator delete[](void *p, size_t, std::align_val_t) noexcept { nm::heap::release(p, Fn::NewArray, FRAME); }
NM_NEW void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept {
    nm::heap::release(p, Fn::New, FRAME);
}
NM_NEW void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept {
    nm::heap::release(p, Fn::NewArray, FRAME);
}

// ---- loader ---------------------------------------------------------------------------------

// After a dlclose the addresses of the unloaded object may hold other code: cached module and
// unwind rules for them are dropped.
NM_SHIM int dlclose(void *handle) {
    using dlclose_fn = int (*)(void *);
    static dlclose_fn real = reinterpret_cast<dlclose_fn>(dlsym(RTLD_NEXT, "dlclose"));
    const int rc = real ? real(handle) : -1;
    nm::heap::objects_changed();
    return rc;
}

namespace {

// Removes every libnmleak-heap entry from LD_PRELOAD (separated by ':' or ' ', as ld.so reads
// it), without allocating more than the new value.
void drop_from_preload() {
    const char *preload = getenv("LD_PRELOAD");
    if (!preload) return;
    char kept[4096];
    size_t used = 0;
    const char *p = preload;
    while (*p) {
        const char *end = p;
        while (*end && *end != ':' && *end != ' ') ++end;
        const size_t len = size_t(end - p);
        bool ours = false;
        for (size_t i = 0; i + 14 <= len; ++i)
            if (memcmp(p + i, "libnmleak-heap", 14) == 0) ours = true;
        if (len && !ours && used + len + 2 < sizeof kept) {
            if (used) kept[used++] = ':';
            memcpy(kept + used, p, len);
            used += len;
        }
        p = *end ? end + 1 : end;
    }
    kept[used] = '\0';
    if (used) setenv("LD_PRELOAD", kept, 1);
    else unsetenv("LD_PRELOAD");
}

void stop_at_exit() { nm::heap::stop_tracking(); }

// Preloaded: runs before main, after libnmapi's constructor. Registered after the program's
// libraries but before its own exit handlers and static destructors, so stop_at_exit runs after
// them (what they free is not a leak) and before libnmapi's exit report.
__attribute__((constructor)) void heap_init() {
    const char *enabled = getenv("NMLEAK_HEAP");
    if (enabled && strcmp(enabled, "0") == 0) return;
    const char *follow = getenv("NMLEAK_FOLLOW_CHILDREN");
    if (!follow || strcmp(follow, "1") != 0) drop_from_preload();
    nm::heap::start(getenv("NMLEAK_WRAPPERS"));
    // The main thread's tracker state now, not on its first heap call: that call may be made
    // inside pthread_getattr_np, under the lock the state's stack-bounds read would take again
    // (Rust's runtime asks for the main thread's stack first thing). Other threads: thread_start.cpp.
    nm::thread_prepare();
    atexit(stop_at_exit);
}

} // namespace

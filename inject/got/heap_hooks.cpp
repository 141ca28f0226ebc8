// heap_hooks.cpp - the heap of a running process, observed: `nmleak attach` points the GOT entries
// of every loaded module for the malloc family and operator new/delete at the hooks below. Each
// hook calls the process's own function (glibc's malloc, libstdc++'s operator new) and reports the
// block to the tracker (nm::heap::observed_*), which keeps it in a side table: the process keeps
// its allocator, and a block freed by a path no hook covers is still freed right.
//
// The hooks are built with frame pointers and without sibling calls, so the tracker's stack starts
// at the hook's caller. Allocations made while a hook runs (the tracker's own, libstdc++'s
// operator new calling malloc) pass straight through: t_depth. A thread running nmleak's own code
// (the agent, the watcher below) is marked for good.
#include "heap_hooks.hpp"

#include "got_patch.hpp"

#include <nmleak/heap.hpp>

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>

#define FRAME __builtin_frame_address(0)
#define HOOK extern "C" __attribute__((visibility("hidden"), noinline))

using nm::heap::Fn;

namespace {

thread_local int t_depth __attribute__((tls_model("initial-exec"))) = 0;

struct Depth {
    Depth() noexcept { ++t_depth; }
    ~Depth() { --t_depth; }
};

// The process's own functions (resolved once, before any entry is redirected).
void *(*r_malloc)(size_t);
void (*r_free)(void *);
void *(*r_calloc)(size_t, size_t);
void *(*r_realloc)(void *, size_t);
void *(*r_reallocarray)(void *, size_t, size_t);
int (*r_posix_memalign)(void **, size_t, size_t);
void *(*r_aligned_alloc)(size_t, size_t);
void *(*r_memalign)(size_t, size_t);
void *(*r_valloc)(size_t);
void *(*r_pvalloc)(size_t);
int (*r_dlclose)(void *);

void *(*r_new)(size_t);
void *(*r_new_a)(size_t);
void *(*r_new_nt)(size_t, const std::nothrow_t &) noexcept;
void *(*r_new_a_nt)(size_t, const std::nothrow_t &) noexcept;
void *(*r_new_al)(size_t, std::align_val_t);
void *(*r_new_a_al)(size_t, std::align_val_t);
void *(*r_new_al_nt)(size_t, std::align_val_t, const std::nothrow_t &) noexcept;
void *(*r_new_a_al_nt)(size_t, std::align_val_t, const std::nothrow_t &) noexcept;
void (*r_del)(void *) noexcept;
void (*r_del_a)(void *) noexcept;
void (*r_del_s)(void *, size_t) noexcept;
void (*r_del_a_s)(void *, size_t) noexcept;
void (*r_del_nt)(void *, const std::nothrow_t &) noexcept;
void (*r_del_a_nt)(void *, const std::nothrow_t &) noexcept;
void (*r_del_al)(void *, std::align_val_t) noexcept;
void (*r_del_a_al)(void *, std::align_val_t) noexcept;
void (*r_del_s_al)(void *, size_t, std::align_val_t) noexcept;
void (*r_del_a_s_al)(void *, size_t, std::align_val_t) noexcept;
void (*r_del_al_nt)(void *, std::align_val_t, const std::nothrow_t &) noexcept;
void (*r_del_a_al_nt)(void *, std::align_val_t, const std::nothrow_t &) noexcept;

inline void record(void *p, size_t n, Fn fn, const void *frame) noexcept {
    if (p) nm::heap::observed_alloc(p, n, fn, frame);
}

// frame: the hook's own (for the stack of a misuse). False when the free must not reach the real
// function: a double or invalid free, recorded as misuse (glibc would abort, or corrupt its heap).
inline bool forget(void *p, Fn fn, const void *frame) noexcept {
    if (p && !t_depth) {
        Depth d;
        return nm::heap::observed_release(p, nullptr, fn, frame, false) != nm::heap::Release::Refused;
    }
    return true;
}

} // namespace

// ---- C ---------------------------------------------------------------------------------------

HOOK void *nmleak_hook_malloc(size_t n) {
    if (t_depth) return r_malloc(n);
    Depth d;
    void *p = r_malloc(n);
    record(p, n, Fn::Malloc, FRAME);
    return p;
}
HOOK void nmleak_hook_free(void *p) {
    if (forget(p, Fn::Malloc, FRAME)) r_free(p);
}
HOOK void *nmleak_hook_calloc(size_t count, size_t size) {
    if (t_depth) return r_calloc(count, size);
    Depth d;
    void *p = r_calloc(count, size);
    record(p, count * size, Fn::Malloc, FRAME); // non-null: the product did not overflow
    return p;
}

namespace {

// realloc and reallocarray: the old block leaves the table before the real call (once the real
// call freed it, another thread may get its address and record it). A pointer freed already, or
// one glibc never made, is a misuse: recorded, and the call fails (ENOMEM) as under `nmleak run`.
template <class Call>
inline void *resize(void *p, size_t n, const void *frame, Call &&call) {
    if (t_depth) return call();
    Depth d;
    uint64_t old = 0;
    const nm::heap::Release rel =
        p ? nm::heap::observed_release(p, &old, Fn::Malloc, frame, true) : nm::heap::Release::Foreign;
    if (rel == nm::heap::Release::Refused) {
        errno = ENOMEM;
        return nullptr;
    }
    const bool had = rel == nm::heap::Release::Listed && p;
    void *q = call();
    if (q) record(q, n, Fn::Malloc, frame);
    else if (had && n) record(p, old, Fn::Malloc, frame); // failed: p is still the program's
    return q;
}

} // namespace

HOOK void *nmleak_hook_realloc(void *p, size_t n) {
    return resize(p, n, FRAME, [&] { return r_realloc(p, n); });
}
HOOK void *nmleak_hook_reallocarray(void *p, size_t count, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) n = 0; // the real call fails with ENOMEM
    return resize(p, n, FRAME, [&] { return r_reallocarray(p, count, size); });
}
HOOK int nmleak_hook_posix_memalign(void **out, size_t align, size_t n) {
    if (t_depth) return r_posix_memalign(out, align, n);
    Depth d;
    const int rc = r_posix_memalign(out, align, n);
    if (rc == 0) record(*out, n, Fn::Malloc, FRAME);
    return rc;
}

#define NM_SIMPLE_HOOK(name, real, params, args, size)                                             \
    HOOK void *nmleak_hook_##name params {                                                         \
        if (t_depth) return real args;                                                             \
        Depth d;                                                                                   \
        void *p = real args;                                                                       \
        record(p, size, Fn::Malloc, FRAME);                                                        \
        return p;                                                                                  \
    }
NM_SIMPLE_HOOK(aligned_alloc, r_aligned_alloc, (size_t align, size_t n), (align, n), n)
NM_SIMPLE_HOOK(memalign, r_memalign, (size_t align, size_t n), (align, n), n)
NM_SIMPLE_HOOK(valloc, r_valloc, (size_t n), (n), n)
NM_SIMPLE_HOOK(pvalloc, r_pvalloc, (size_t n), (n), n)

// dlopen finds a bare file name through its caller's RPATH/RUNPATH (and opens in its caller's
// namespace), taking the caller from its own return address: a hook calling it would change that.
// So the hook (assembly below) jumps straight to the real dlopen for a bare name, and the watcher
// thread patches what it loaded; a name with a '/' is looked for nowhere, so the hook calls the
// real dlopen itself and patches the new modules before returning (their constructors have run).
extern "C" {
__attribute__((visibility("hidden"))) void *(*nmleak_real_dlopen)(const char *, int);
__attribute__((visibility("hidden"))) int nmleak_dlopen_is_path(const char *file) {
    return file && std::strchr(file, '/') != nullptr;
}
__attribute__((visibility("hidden"))) void *nmleak_dlopen_and_patch(const char *file, int mode);
void *nmleak_hook_dlopen(const char *, int);
}
asm(R"(
    .text
    .p2align 4
    .hidden nmleak_hook_dlopen
    .type nmleak_hook_dlopen, @function
nmleak_hook_dlopen:
    push %rdi
    push %rsi
    sub $8, %rsp
    call nmleak_dlopen_is_path
    add $8, %rsp
    pop %rsi
    pop %rdi
    test %eax, %eax
    jnz nmleak_dlopen_and_patch
    jmp *nmleak_real_dlopen(%rip)
    .size nmleak_hook_dlopen, .-nmleak_hook_dlopen
)");

namespace nm::got {
void patch_new_modules() noexcept;
}

extern "C" void *nmleak_dlopen_and_patch(const char *file, int mode) {
    void *h = nmleak_real_dlopen(file, mode);
    if (h) nm::got::patch_new_modules();
    return h;
}

HOOK int nmleak_hook_dlclose(void *handle) {
    const int rc = r_dlclose(handle);
    nm::heap::observed_objects_changed();
    return rc;
}

// ---- C++ -------------------------------------------------------------------------------------

#define NM_NEW_HOOK(name, fn, params, args, size)                                                  \
    HOOK void *nmleak_hook_##name params {                                                         \
        if (t_depth) return r_##name args;                                                         \
        Depth d;                                                                                   \
        void *p = r_##name args; /* may throw: d puts the depth back */                            \
        record(p, size, fn, FRAME);                                                                \
        return p;                                                                                  \
    }
NM_NEW_HOOK(new, Fn::New, (size_t n), (n), n)
NM_NEW_HOOK(new_a, Fn::NewArray, (size_t n), (n), n)
NM_NEW_HOOK(new_nt, Fn::New, (size_t n, const std::nothrow_t &t), (n, t), n)
NM_NEW_HOOK(new_a_nt, Fn::NewArray, (size_t n, const std::nothrow_t &t), (n, t), n)
NM_NEW_HOOK(new_al, Fn::New, (size_t n, std::align_val_t a), (n, a), n)
NM_NEW_HOOK(new_a_al, Fn::NewArray, (size_t n, std::align_val_t a), (n, a), n)
NM_NEW_HOOK(new_al_nt, Fn::New, (size_t n, std::align_val_t a, const std::nothrow_t &t), (n, a, t), n)
NM_NEW_HOOK(new_a_al_nt, Fn::NewArray, (size_t n, std::align_val_t a, const std::nothrow_t &t), (n, a, t), n)

#define NM_DELETE_HOOK(name, fn, params, args)                                                     \
    HOOK void nmleak_hook_##name params noexcept {                                                 \
        if (forget(p, fn, FRAME)) r_##name args;                                                   \
    }
NM_DELETE_HOOK(del, Fn::New, (void *p), (p))
NM_DELETE_HOOK(del_a, Fn::NewArray, (void *p), (p))
NM_DELETE_HOOK(del_s, Fn::New, (void *p, size_t n), (p, n))
NM_DELETE_HOOK(del_a_s, Fn::NewArray, (void *p, size_t n), (p, n))
NM_DELETE_HOOK(del_nt, Fn::New, (void *p, const std::nothrow_t &t), (p, t))
NM_DELETE_HOOK(del_a_nt, Fn::NewArray, (void *p, const std::nothrow_t &t), (p, t))
NM_DELETE_HOOK(del_al, Fn::New, (void *p, std::align_val_t a), (p, a))
NM_DELETE_HOOK(del_a_al, Fn::NewArray, (void *p, std::align_val_t a), (p, a))
NM_DELETE_HOOK(del_s_al, Fn::New, (void *p, size_t n, std::align_val_t a), (p, n, a))
NM_DELETE_HOOK(del_a_s_al, Fn::NewArray, (void *p, size_t n, std::align_val_t a), (p, n, a))
NM_DELETE_HOOK(del_al_nt, Fn::New, (void *p, std::align_val_t a, const std::nothrow_t &t), (p, a, t))
NM_DELETE_HOOK(del_a_al_nt, Fn::NewArray, (void *p, std::align_val_t a, const std::nothrow_t &t), (p, a, t))

// ---- attach and detach ----------------------------------------------------------------------

namespace nm::got {
namespace {

std::mutex g_mu; // attach, detach and the watcher's passes
Patcher *g_patcher = nullptr;
pthread_t g_watcher;
std::atomic<bool> g_watching{false};
std::atomic<uint64_t> g_loaded_later{0};

struct Entry {
    const char *name;
    void *hook;
    void *real_fn_ptr; // address of the r_ pointer to fill
    bool c;            // a C function: from libc itself, and must be bound to it
};

#define C_ENTRY(sym) {#sym, reinterpret_cast<void *>(&nmleak_hook_##sym), reinterpret_cast<void *>(&r_##sym), true}
#define CXX_ENTRY(sym, mangled) {mangled, reinterpret_cast<void *>(&nmleak_hook_##sym), reinterpret_cast<void *>(&r_##sym), false}

const Entry kEntries[] = {
    C_ENTRY(malloc), C_ENTRY(free), C_ENTRY(calloc), C_ENTRY(realloc), C_ENTRY(reallocarray),
    C_ENTRY(posix_memalign), C_ENTRY(aligned_alloc), C_ENTRY(memalign), C_ENTRY(valloc), C_ENTRY(pvalloc),
    CXX_ENTRY(new, "_Znwm"), CXX_ENTRY(new_a, "_Znam"),
    CXX_ENTRY(new_nt, "_ZnwmRKSt9nothrow_t"), CXX_ENTRY(new_a_nt, "_ZnamRKSt9nothrow_t"),
    CXX_ENTRY(new_al, "_ZnwmSt11align_val_t"), CXX_ENTRY(new_a_al, "_ZnamSt11align_val_t"),
    CXX_ENTRY(new_al_nt, "_ZnwmSt11align_val_tRKSt9nothrow_t"),
    CXX_ENTRY(new_a_al_nt, "_ZnamSt11align_val_tRKSt9nothrow_t"),
    CXX_ENTRY(del, "_ZdlPv"), CXX_ENTRY(del_a, "_ZdaPv"), CXX_ENTRY(del_s, "_ZdlPvm"), CXX_ENTRY(del_a_s, "_ZdaPvm"),
    CXX_ENTRY(del_nt, "_ZdlPvRKSt9nothrow_t"), CXX_ENTRY(del_a_nt, "_ZdaPvRKSt9nothrow_t"),
    CXX_ENTRY(del_al, "_ZdlPvSt11align_val_t"), CXX_ENTRY(del_a_al, "_ZdaPvSt11align_val_t"),
    CXX_ENTRY(del_s_al, "_ZdlPvmSt11align_val_t"), CXX_ENTRY(del_a_s_al, "_ZdaPvmSt11align_val_t"),
    CXX_ENTRY(del_al_nt, "_ZdlPvSt11align_val_tRKSt9nothrow_t"),
    CXX_ENTRY(del_a_al_nt, "_ZdaPvSt11align_val_tRKSt9nothrow_t"),
};

std::string where_defined(void *fn) {
    Dl_info info{};
    if (!fn || !dladdr(fn, &info) || !info.dli_fname) return "unknown code";
    return info.dli_fname;
}

// True when fn is a PLT stub (endbr64; [bnd] jmp *slot(%rip)): a canonical PLT entry of a
// non-PIE executable. *target: what its GOT slot holds when resolved already, else nullptr.
bool plt_stub(void *fn, void **target) {
    *target = nullptr;
    if (!fn) return false;
    const auto *c = static_cast<const unsigned char *>(fn);
    Dl_info info{};
    if (!dladdr(fn, &info)) return false;
    if (c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa) c += 4; // endbr64
    if (c[0] == 0xf2) ++c;                                                  // bnd
    if (c[0] != 0xff || c[1] != 0x25) return false;
    int32_t disp;
    std::memcpy(&disp, c + 2, sizeof disp);
    void *const *slot = reinterpret_cast<void *const *>(c + 6 + disp);
    void *t = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    Dl_info where{};
    // A lazy entry not called yet points back into its own object.
    if (dladdr(t, &where) && where.dli_fbase != info.dli_fbase) *target = t;
    return true;
}

// Resolves every real function; false with *error when the malloc family is not glibc's.
bool resolve(std::vector<Redirect> *out, std::string *error) {
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc) {
        *error = "glibc (libc.so.6) is not loaded in the process";
        return false;
    }
    void *libstdcxx = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_NOLOAD);
    for (const Entry &e : kEntries) {
        void *global = dlsym(RTLD_DEFAULT, e.name);
        void *canonical = nullptr, *behind = nullptr;
        if (plt_stub(global, &behind)) {
            canonical = global;
            // The definition behind it: glibc's for C (checked below), libstdc++'s for C++.
            global = e.c ? dlsym(libc, e.name) : (libstdcxx ? dlsym(libstdcxx, e.name) : behind);
            if (!global) global = behind;
        }
        if (e.c) {
            void *own = dlsym(libc, e.name);
            if (!own) {
                *error = std::string("glibc has no ") + e.name;
                return false;
            }
            if (global != own || (behind && behind != own)) {
                if (behind && behind != own) global = behind;
                *error = std::string("the process's ") + e.name + " is defined in " + where_defined(global) +
                         ", not glibc: it runs another allocator";
                return false;
            }
        }
        if (!global) {
            *error = std::string("no definition of ") + e.name + " in the process";
            return false;
        }
        std::memcpy(e.real_fn_ptr, &global, sizeof global);
        out->push_back({e.name, e.hook, global, e.c, canonical});
    }
    // The loader's functions, from libc itself (never through a canonical PLT entry of the
    // executable: that one jumps through an entry redirected to the hook).
    void *dlclose_fn = dlsym(libc, "dlclose"), *dlopen_fn = dlsym(libc, "dlopen");
    if (!dlclose_fn || !dlopen_fn) {
        *error = "glibc has no dlopen/dlclose (glibc 2.34 or later is needed)";
        return false;
    }
    void *dlclose_global = dlsym(RTLD_DEFAULT, "dlclose"), *dlopen_global = dlsym(RTLD_DEFAULT, "dlopen");
    std::memcpy(&r_dlclose, &dlclose_fn, sizeof dlclose_fn);
    out->push_back({"dlclose", reinterpret_cast<void *>(&nmleak_hook_dlclose), dlclose_fn, false,
                    dlclose_global != dlclose_fn ? dlclose_global : nullptr});
    std::memcpy(&nmleak_real_dlopen, &dlopen_fn, sizeof dlopen_fn);
    out->push_back({"dlopen", reinterpret_cast<void *>(&nmleak_hook_dlopen), dlopen_fn, false,
                    dlopen_global != dlopen_fn ? dlopen_global : nullptr});
    return true;
}

// Modules loaded after the attach (dlopen, NSS modules the loader brings in) are patched by this
// thread, which looks at the loader's load count every 20 ms. (Hooking dlopen itself would make
// dlopen see the hook as its caller, changing how it searches: RUNPATH, $ORIGIN, namespaces.)
void *watch(void *) {
    mark_own_thread();
    pthread_setname_np(pthread_self(), "nmleak-got");
    uint64_t seen = Patcher::load_generation();
    while (g_watching.load(std::memory_order_acquire)) {
        timespec pause{0, 20 * 1000000L};
        nanosleep(&pause, nullptr);
        const uint64_t now = Patcher::load_generation();
        if (now == seen) continue;
        seen = now;
        std::lock_guard<std::mutex> lock(g_mu);
        if (!g_patcher || !g_watching.load()) break;
        PatchStats stats;
        std::string why;
        if (g_patcher->patch(&stats, &why, false)) g_loaded_later.fetch_add(stats.modules, std::memory_order_relaxed);
        nm::heap::observed_objects_changed();
    }
    return nullptr;
}

} // namespace

void mark_own_thread() noexcept { ++t_depth; }

// The modules a dlopen just loaded, patched at once (the watcher would be up to 20 ms late).
void patch_new_modules() noexcept {
    Depth own;
    // Only if free: a pass holding g_mu may be waiting for the loader's lock, which this thread
    // holds when this dlopen is nested in another one (a constructor's); the watcher catches up.
    std::unique_lock<std::mutex> lock(g_mu, std::try_to_lock);
    if (!lock.owns_lock() || !g_patcher) return;
    PatchStats stats;
    std::string why;
    if (g_patcher->patch(&stats, &why, false)) g_loaded_later.fetch_add(stats.modules, std::memory_order_relaxed);
}

bool heap_attach(std::string *status, std::string *error) {
    Depth own; // this thread's allocations while patching are nmleak's
    std::lock_guard<std::mutex> lock(g_mu);
    if (nm::heap::active()) {
        *status = "the heap is tracked already (nmleak run)";
        return true;
    }
    if (g_patcher) {
        *status = "the heap is observed already";
        return true;
    }
    std::vector<Redirect> redirects;
    if (!resolve(&redirects, error)) return false;
    const char *why = nullptr;
    if (!nm::heap::observe_start(std::getenv("NMLEAK_WRAPPERS"), &why)) {
        *error = why ? why : "the tracker cannot observe this heap";
        return false;
    }
    auto *patcher = new Patcher(std::move(redirects), {"libnmapi.so", "libnmleak-"});
    PatchStats stats;
    if (!patcher->patch(&stats, error)) {
        patcher->restore();
        delete patcher;
        nm::heap::observe_stop();
        return false;
    }
    g_patcher = patcher;
    nm::heap::observe_arm(true);
    g_watching.store(true, std::memory_order_release);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const int rc = pthread_create(&g_watcher, nullptr, watch, nullptr);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (rc != 0) g_watching.store(false);
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "heap observed: %zu GOT entries redirected in %zu modules (%zu bound elsewhere kept); "
                  "%llu bytes in use before the attach are foreign",
                  stats.entries, stats.modules, stats.kept,
                  static_cast<unsigned long long>(nm::heap::observed_foreign_at_start()));
    *status = buf;
    return true;
}

void heap_detach() noexcept {
    Depth own;
    Patcher *patcher;
    bool joined = false;
    {
        std::lock_guard<std::mutex> lock(g_mu);
        patcher = g_patcher;
        if (!patcher) return;
        joined = g_watching.exchange(false);
    }
    if (joined) pthread_join(g_watcher, nullptr);
    std::lock_guard<std::mutex> lock(g_mu);
    nm::heap::observe_arm(false);
    patcher->restore(); // the hooks read nothing of it: threads still inside one are fine
    delete patcher;
    g_patcher = nullptr;
    nm::heap::observe_stop();
}

uint64_t modules_patched_later() noexcept { return g_loaded_later.load(std::memory_order_relaxed); }

} // namespace nm::got

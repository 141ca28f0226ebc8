// threads.cpp - the threads an expert starts, and the exit() calls it makes, under the run's guard.
//
// libnmapi exports pthread_create, exit, _exit and _Exit. Each checks the calling thread's guard
// and otherwise passes the call on to libc (_exit and _Exit first write the at-exit report):
//   pthread_create from guarded expert code starts the thread through run_guarded_thread, so a
//     crash on it is caught like a crash of Run (ThreadPolicy::thread_failed decides what it
//     means for the run) and the threads it starts in turn are guarded too;
//   exit(), _exit() and _Exit() called by the expert's own code on a guarded thread unwind that
//     thread instead of ending the process.
// A host that does not link libnmapi before libc (or a sanitizer runtime, which comes first and
// defines pthread_create itself) keeps libc's functions: then nothing changes.
#include "host/expert_module.hpp"
#include "host/guard.hpp"
#include "track/exit_hook.hpp"

#include <nmleak/tracker.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

namespace nm::host {
namespace {

using PthreadCreate = int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
using Exit = void (*)(int);

// Resolved when libnmapi loads, never inside an exit path (dlsym may allocate, and _exit may run in
// a vfork child).
PthreadCreate g_real_pthread_create = nullptr;
Exit g_real_exit = nullptr;

__attribute__((constructor)) void resolve_libc() {
    g_real_pthread_create = reinterpret_cast<PthreadCreate>(dlsym(RTLD_NEXT, "pthread_create"));
    g_real_exit = reinterpret_cast<Exit>(dlsym(RTLD_NEXT, "exit"));
}

PthreadCreate real_pthread_create() {
    if (!g_real_pthread_create) resolve_libc(); // a thread started by an earlier constructor
    return g_real_pthread_create;
}

struct ThreadStart {
    std::shared_ptr<ThreadPolicy> policy;
    void *(*fn)(void *) = nullptr;
    void *arg = nullptr;
};

void *guarded_start(void *p) {
    std::unique_ptr<ThreadStart> s(static_cast<ThreadStart *>(p));
    return run_guarded_thread(s->policy, s->fn, s->arg);
}

struct ThreadCall {
    Guard *guard = nullptr;
    void *(*fn)(void *) = nullptr;
    void *arg = nullptr;
    void *result = nullptr;
    bool threw = false;
    std::string exception;
};

// The boundary frame between libnmapi and the thread's start routine (see Guard::boundary_fp).
__attribute__((noinline)) void call_thread(void *p) {
    auto *c = static_cast<ThreadCall *>(p);
    c->guard->boundary_fp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    try {
        c->result = c->fn(c->arg);
    } catch (abi::__forced_unwind &) {
        throw; // pthread_exit or cancellation: the thread ends as it asked
    } catch (...) {
        // An exception out of a thread's start routine would terminate the process.
        c->threw = true;
        c->exception = describe_current_exception();
    }
}

[[noreturn]] void exit_group(int status) {
    for (;;) ::syscall(SYS_exit_group, status);
}

} // namespace

void *run_guarded_thread(const std::shared_ptr<ThreadPolicy> &policy, void *(*fn)(void *), void *arg) {
    unblock_guard_signals();
    nm::thread_prepare(); // the tracker's thread state exists before any handler asks for it
    Guard guard;
    guard.expert_text = policy->expert_text.data();
    guard.n_expert_text = policy->expert_text.size();
    guard.other_text = policy->other_text.data();
    guard.n_other_text = policy->other_text.size();
    guard.threads = policy;
    set_stack_bounds(guard);
    ThreadCall call;
    call.guard = &guard;
    call.fn = fn;
    call.arg = arg;
    GuardExit how;
    // The threads an expert starts work for its run: their heap blocks in its code are the key's.
    nm::set_thread_run_key(policy->run_key);
    try {
        AltStack alt;
        how = run_guarded(guard, call_thread, &call);
    } catch (abi::__forced_unwind &) {
        nm::set_thread_run_key(nullptr);
        leave_guard(guard);
        throw;
    }
    nm::set_thread_run_key(nullptr);
    if (how != GuardExit::Returned) nm::thread_recover_after_unwind();
    if (how != GuardExit::Returned || call.threw) {
        policy->thread_failed(how, guard, call.exception);
        return nullptr;
    }
    return call.result;
}

} // namespace nm::host

using nm::host::ThreadPolicy;

extern "C" __attribute__((visibility("default"))) int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                                                                     void *(*fn)(void *), void *arg) noexcept {
    nm::host::PthreadCreate real = nm::host::real_pthread_create();
    if (!real) return EAGAIN;
    std::shared_ptr<ThreadPolicy> policy = nm::host::guarded_thread_policy();
    if (!policy) return real(thread, attr, fn, arg);
    auto *start = new (std::nothrow) nm::host::ThreadStart{std::move(policy), fn, arg};
    if (!start) return EAGAIN;
    const int rc = real(thread, attr, nm::host::guarded_start, start);
    if (rc != 0) delete start;
    return rc;
}

extern "C" __attribute__((visibility("default"))) void exit(int status) noexcept {
    nm::host::unwind_if_guarded_exit(status, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
    if (nm::host::g_real_exit) nm::host::g_real_exit(status);
    nm::host::exit_group(status);
}

namespace nm {

void exit_without_atexit(int status, uintptr_t caller_pc) noexcept {
    host::unwind_if_guarded_exit(status, caller_pc);
    track::run_exit_hook();
    host::exit_group(status);
}

} // namespace nm

// _exit skips the atexit handlers, so the at-exit report is written here (as LeakSanitizer checks
// for leaks in _exit): shells, and programs that end a child's work with _exit, still leave one.
extern "C" __attribute__((visibility("default"))) void _exit(int status) noexcept {
    nm::exit_without_atexit(status, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}

extern "C" __attribute__((visibility("default"))) void _Exit(int status) noexcept {
    nm::exit_without_atexit(status, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}

// thread_start.cpp - every thread of the program gets its tracker state before its own code runs.
//
// The tracker makes a thread's state on the thread's first heap call, and reads the thread's
// stack bounds with pthread_getattr_np then. glibc's pthread_getattr_np calls realloc while it
// holds the thread's own lock: in a thread whose first heap call is that realloc (Rust's and the
// JVM's threads ask for their stack first thing), reading the bounds there would take the lock
// again and hang. So pthread_create is wrapped: the new thread makes its state first, with no
// lock held, and then runs its start routine. It also takes over the creating thread's run key
// (the expert key it works for), so the threads an expert starts count toward its key in any
// host, not only under nmleak's runner.
//
// This file is compiled with sibling calls allowed: the trampoline jumps to the start routine
// instead of calling it, so no nmleak frame stays at the base of the thread's stacks.
#include <nmleak/heap.hpp>
#include <nmleak/tracker.hpp>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

namespace {

struct ThreadStart {
    void *(*fn)(void *);
    void *arg;
    void *run_key; // the creating thread's run key: a thread an expert starts works for its key
};

using create_fn = int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

void *thread_trampoline(void *p) {
    auto *start = static_cast<ThreadStart *>(p);
    void *(*fn)(void *) = start->fn;
    void *arg = start->arg;
    void *run_key = start->run_key;
    nm::thread_prepare();
    // Heap blocks of this thread charged to the key's own module belong to the key, as on the
    // thread that started it (nmleak's runner does the same for its experts' threads).
    if (run_key) nm::set_thread_run_key(run_key);
    free(start); // nmleak's own block
    return fn(arg);
}

} // namespace

extern "C" __attribute__((visibility("default"))) int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                                                                      void *(*fn)(void *), void *arg) {
    static create_fn real = reinterpret_cast<create_fn>(dlsym(RTLD_NEXT, "pthread_create"));
    if (!real) return EAGAIN;
    auto *start = static_cast<ThreadStart *>(nm::heap::own_allocate(sizeof(ThreadStart)));
    if (!start) return real(thread, attr, fn, arg); // the thread then makes its state itself
    start->fn = fn;
    start->arg = arg;
    start->run_key = nm::thread_run_key();
    const int rc = real(thread, attr, thread_trampoline, start);
    if (rc != 0) free(start);
    return rc;
}

// exec_follow.cpp - under `nmleak run`, PROG stays tracked across its own exec.
//
// The preloaded libraries take themselves out of LD_PRELOAD when they start, so the children PROG
// forks do not inherit them (unless --follow-children). But PROG is often a wrapper that ends in
// exec (a shell script's `exec analyzer "$@"`, a version manager's shim): that is still the process
// nmleak started, with the same pid, and it must stay tracked. These wrappers of the exec family
// put the entries back, from NMLEAK_RUN_PRELOAD (set by `nmleak run`), into the environment handed
// to the new program, when the caller is the process the library was loaded into; a child (fork,
// vfork, posix_spawn) has another pid and is left as it is.
//
// Compiled into both libnmleak-heap.so and libnmleak-agent.so: whichever comes first in
// LD_PRELOAD defines the exec functions for the process, and the other's copy, reached through
// RTLD_NEXT, finds the entries already there and passes the call on unchanged.
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define NM_EXEC extern "C" __attribute__((visibility("default")))

namespace {

pid_t g_loaded_in = 0; // the pid this library was loaded into

__attribute__((constructor)) void note_pid() { g_loaded_in = getpid(); }

// True when `list` (':'- or ' '-separated, as ld.so reads LD_PRELOAD) holds `entry`.
bool has_entry(const char *list, const char *entry, size_t len) {
    for (const char *p = list; *p;) {
        const char *end = p;
        while (*end && *end != ':' && *end != ' ') ++end;
        if (size_t(end - p) == len && memcmp(p, entry, len) == 0) return true;
        p = *end ? end + 1 : end;
    }
    return false;
}

// The environment for the new program: `envp` with the run's preload entries that are missing
// from its LD_PRELOAD put in front. Returns envp itself when nothing is missing (or this is not
// the process nmleak started); otherwise a copy in *owned (freed by the caller if exec returns).
char **with_preload(char *const *envp, char ***owned) {
    *owned = nullptr;
    if (getpid() != g_loaded_in || !envp) return const_cast<char **>(envp);
    const char *want = getenv("NMLEAK_RUN_PRELOAD");
    if (!want || !*want) return const_cast<char **>(envp);
    size_t n = 0, at = size_t(-1);
    for (; envp[n]; ++n)
        if (at == size_t(-1) && strncmp(envp[n], "LD_PRELOAD=", 11) == 0) at = n;
    const char *old = at == size_t(-1) ? "" : envp[at] + 11;

    // LD_PRELOAD=<missing entries of want>[:<old>]
    const size_t cap = 11 + strlen(want) + 1 + strlen(old) + 1;
    char *value = static_cast<char *>(malloc(cap));
    if (!value) return const_cast<char **>(envp);
    memcpy(value, "LD_PRELOAD=", 12);
    size_t used = 11;
    bool added = false;
    for (const char *p = want; *p;) {
        const char *end = p;
        while (*end && *end != ':' && *end != ' ') ++end;
        const size_t len = size_t(end - p);
        if (len && !has_entry(old, p, len)) {
            if (used > 11) value[used++] = ':';
            memcpy(value + used, p, len);
            used += len;
            added = true;
        }
        p = *end ? end + 1 : end;
    }
    if (!added) {
        free(value);
        return const_cast<char **>(envp);
    }
    if (*old) {
        value[used++] = ':';
        memcpy(value + used, old, strlen(old));
        used += strlen(old);
    }
    value[used] = '\0';

    char **env = static_cast<char **>(malloc((n + 2) * sizeof(char *)));
    if (!env) {
        free(value);
        return const_cast<char **>(envp);
    }
    // env[0] is the new LD_PRELOAD (release() frees it with the array).
    size_t k = 0;
    env[k++] = value;
    for (size_t i = 0; i < n; ++i)
        if (i != at) env[k++] = envp[i];
    env[k] = nullptr;
    *owned = env;
    return env;
}

void release(char **owned) {
    if (!owned) return;
    const int saved = errno;
    free(owned[0]);
    free(owned);
    errno = saved;
}

template <typename Fn> Fn next(const char *name) {
    return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

using execve_fn = int (*)(const char *, char *const[], char *const[]);
using execvpe_fn = int (*)(const char *, char *const[], char *const[]);
using fexecve_fn = int (*)(int, char *const[], char *const[]);
using execveat_fn = int (*)(int, const char *, char *const[], char *const[], int);

int call_execve(const char *path, char *const argv[], char *const envp[]) {
    static execve_fn real = next<execve_fn>("execve");
    if (!real) return errno = ENOSYS, -1;
    char **owned;
    char **env = with_preload(envp, &owned);
    const int rc = real(path, argv, env);
    release(owned);
    return rc;
}

int call_execvpe(const char *file, char *const argv[], char *const envp[]) {
    static execvpe_fn real = next<execvpe_fn>("execvpe");
    if (!real) return errno = ENOSYS, -1;
    char **owned;
    char **env = with_preload(envp, &owned);
    const int rc = real(file, argv, env);
    release(owned);
    return rc;
}

// The arguments of an execl-style call after `first`, up to the terminating null pointer, into
// argv (kMaxListArgs entries at most: beyond that the call fails with E2BIG rather than allocate).
constexpr size_t kMaxListArgs = 4096;

bool collect_args(const char *first, va_list *ap, char **argv) {
    size_t argc = 0;
    argv[argc++] = const_cast<char *>(first);
    while (char *a = va_arg(*ap, char *)) {
        if (argc == kMaxListArgs) return errno = E2BIG, false;
        argv[argc++] = a;
    }
    argv[argc] = nullptr;
    return true;
}

} // namespace

NM_EXEC int execve(const char *path, char *const argv[], char *const envp[]) {
    return call_execve(path, argv, envp);
}

NM_EXEC int execv(const char *path, char *const argv[]) { return call_execve(path, argv, environ); }

NM_EXEC int execvpe(const char *file, char *const argv[], char *const envp[]) {
    return call_execvpe(file, argv, envp);
}

NM_EXEC int execvp(const char *file, char *const argv[]) { return call_execvpe(file, argv, environ); }

NM_EXEC int fexecve(int fd, char *const argv[], char *const envp[]) {
    static fexecve_fn real = next<fexecve_fn>("fexecve");
    if (!real) return errno = ENOSYS, -1;
    char **owned;
    char **env = with_preload(envp, &owned);
    const int rc = real(fd, argv, env);
    release(owned);
    return rc;
}

NM_EXEC int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags) {
    static execveat_fn real = next<execveat_fn>("execveat");
    if (!real) return errno = ENOSYS, -1;
    char **owned;
    char **env = with_preload(envp, &owned);
    const int rc = real(dirfd, path, argv, env, flags);
    release(owned);
    return rc;
}

NM_EXEC int execl(const char *path, const char *arg, ...) {
    char *argv[kMaxListArgs + 1];
    va_list ap;
    va_start(ap, arg);
    const bool ok = collect_args(arg, &ap, argv);
    va_end(ap);
    return ok ? call_execve(path, argv, environ) : -1;
}

NM_EXEC int execlp(const char *file, const char *arg, ...) {
    char *argv[kMaxListArgs + 1];
    va_list ap;
    va_start(ap, arg);
    const bool ok = collect_args(arg, &ap, argv);
    va_end(ap);
    return ok ? call_execvpe(file, argv, environ) : -1;
}

NM_EXEC int execle(const char *path, const char *arg, ...) {
    char *argv[kMaxListArgs + 1];
    va_list ap;
    va_start(ap, arg);
    const bool ok = collect_args(arg, &ap, argv);
    char *const *envp = ok ? va_arg(ap, char *const *) : nullptr;
    va_end(ap);
    return ok ? call_execve(path, argv, envp) : -1;
}

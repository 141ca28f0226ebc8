// agent.cpp - libnmleak-agent.so's entry points: start and stop the agent thread, in `nmleak run`
// (preloaded: the constructor starts it) and in `nmleak attach` (the injector calls
// nmleak_agent_start() on an interrupted thread of the target).
//
// State machine, guarded by g_mu:  Idle --start--> Running --stop()/Detach--> Idle.
// stop() (at exit, or by a caller) joins the thread. A Detach command ends the thread from inside:
// it then detaches itself, since nobody is there to join it. Either way the socket is unlinked and
// every descriptor closed before the state returns to Idle, so a new start can bind again at once.
// The shared object itself stays mapped (-z nodelete): code of ours may still be on the stack of a
// thread that is just returning.
#include "server.hpp"

#include "heap_hooks.hpp"

#include <nmleak/capture.hpp>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#define NM_AGENT_API extern "C" __attribute__((visibility("default")))

// Preloaded, the agent comes before libc in every lookup, and so before libnmapi's own _exit:
// a program that ends with _exit (a shell does) still writes its NMLEAK_REPORT report, and an
// expert's _exit in a host still ends only its run.
NM_AGENT_API void _exit(int status) noexcept {
    nm::exit_without_atexit(status, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}
NM_AGENT_API void _Exit(int status) noexcept {
    nm::exit_without_atexit(status, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}

// Why the last nmleak_agent_start() failed (NUL-terminated). The injector reads it out of the
// target's memory, since the target's stderr is not the user's terminal.
extern "C" {
__attribute__((visibility("default"))) char nmleak_agent_error[512] = {};
// What nmleak_agent_start_heap() did to the heap, for the injector to print.
__attribute__((visibility("default"))) char nmleak_agent_heap_status[512] = {};
}
NM_AGENT_API int nmleak_agent_stop(void);

namespace {

enum class State { Idle, Running, Stopping };

std::mutex g_mu; // constant-initialized: usable from constructors and atfork handlers
State g_state = State::Idle;
pthread_t g_thread;
nm::agent::Server *g_server = nullptr;
bool g_hooks_installed = false;
bool g_preloaded = false;

void set_error(const std::string &why) {
    std::snprintf(nmleak_agent_error, sizeof nmleak_agent_error, "%s", why.c_str());
    // Preloaded by `nmleak run`, the target's stderr is the user's terminal: say it there too.
    // Injected, it is someone else's output: the injector reports nmleak_agent_error instead.
    if (g_preloaded) std::fprintf(stderr, "nmleak-agent: %s\n", why.c_str());
}

uint32_t env_interval() {
    const char *s = std::getenv("NMLEAK_AGENT_INTERVAL_MS");
    if (!s || !*s) return nm::proto::kDefaultUpdateIntervalMs;
    const long v = std::strtol(s, nullptr, 10);
    if (v < long(nm::proto::kMinUpdateIntervalMs) || v > long(nm::proto::kMaxUpdateIntervalMs))
        return nm::proto::kDefaultUpdateIntervalMs;
    return uint32_t(v);
}

void *agent_thread(void *arg) {
    auto *server = static_cast<nm::agent::Server *>(arg);
    nm::got::mark_own_thread(); // the agent's own allocations are never observed
    pthread_setname_np(pthread_self(), "nmleak-agent");
    nm::mark_nmleak_thread();
    server->run();
    server->close(server->detach_requested() ? "detached" : "the agent is stopping");
    // Detached: the heap's GOT entries go back to the process's own functions.
    if (server->detach_requested()) nm::got::heap_detach();
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_state == State::Running) {
        // Ended by a Detach command: no one will join this thread.
        pthread_detach(pthread_self());
        delete server;
        g_server = nullptr;
        g_state = State::Idle;
    }
    // Stopping: stop() joins us and deletes the server.
    return nullptr;
}

void stop_at_exit() { nmleak_agent_stop(); }

// pthread_atfork: the child of a fork() has no agent thread, only copies of its descriptors and
// g_mu in whatever state the fork caught it (held by prepare, so consistent).
void fork_prepare() { g_mu.lock(); }
void fork_parent() { g_mu.unlock(); }
void fork_child() {
    if (g_server) g_server->abandon_after_fork(); // close(2) only; the socket file is the parent's
    g_server = nullptr;                           // leaked in the child on purpose
    g_state = State::Idle;
    g_mu.unlock();
}

} // namespace

NM_AGENT_API int nmleak_agent_running(void) {
    std::lock_guard<std::mutex> lock(g_mu);
    return g_state == State::Running;
}

// 0: started; 1: already running; -1: failed (nmleak_agent_error says why).
// In `attach` this runs on a target thread the injector interrupted, possibly in the middle of
// anything: it only makes system calls and starts the thread. Everything that reads the tracker
// happens on the agent thread.
NM_AGENT_API int nmleak_agent_start(void) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_state == State::Running) return 1;
    if (g_state == State::Stopping) {
        set_error("the agent is stopping");
        return -1;
    }
    nmleak_agent_error[0] = '\0';
    nm::agent::ServerConfig config;
    config.update_interval_ms = env_interval();
    const char *log = std::getenv("NMLEAK_AGENT_LOG");
    config.log = log && std::strcmp(log, "1") == 0;
    auto *server = new (std::nothrow) nm::agent::Server(config);
    std::string error;
    if (!server) {
        set_error("out of memory");
        return -1;
    }
    if (!server->open(&error)) {
        set_error(error);
        delete server;
        return -1;
    }
    // The agent thread must never take the analyzer's signals (SIGINT handlers, timers, SIGCHLD,
    // the runner's crash handlers): it starts with all of them blocked and inherits nothing else.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const int rc = pthread_create(&g_thread, nullptr, agent_thread, server);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (rc != 0) {
        server->close("thread creation failed");
        delete server;
        set_error(std::string("pthread_create: ") + std::strerror(rc));
        return -1;
    }
    g_server = server;
    g_state = State::Running;
    if (!g_hooks_installed) {
        g_hooks_installed = true;
        // Registered after libnmapi's own at-exit report hook, so it runs first (LIFO): the agent
        // is gone before the report is written and before static destructors run.
        std::atexit(stop_at_exit);
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    }
    return 0;
}

// nmleak_agent_start(), after observing the whole heap (`nmleak attach` of any process): the GOT
// entries of the malloc family and operator new/delete of every module are redirected to hooks
// that record each block (inject/got). Under `nmleak run` the heap is tracked already and only the
// agent starts. 0, 1 or -1 as nmleak_agent_start(); nmleak_agent_heap_status says what was done.
NM_AGENT_API int nmleak_agent_start_heap(void) {
    std::string status, error;
    if (!nm::got::heap_attach(&status, &error)) {
        set_error(error);
        return -1;
    }
    std::snprintf(nmleak_agent_heap_status, sizeof nmleak_agent_heap_status, "%s", status.c_str());
    const int rc = nmleak_agent_start();
    if (rc < 0) nm::got::heap_detach();
    return rc;
}

// 0: stopped (or was not running). Joins the agent thread; never call it from that thread.
NM_AGENT_API int nmleak_agent_stop(void) {
    pthread_t t;
    nm::agent::Server *server;
    {
        std::lock_guard<std::mutex> lock(g_mu);
        if (g_state != State::Running || pthread_equal(g_thread, pthread_self())) return 0;
        g_state = State::Stopping;
        t = g_thread;
        server = g_server;
        server->stop();
    }
    pthread_join(t, nullptr);
    std::lock_guard<std::mutex> lock(g_mu);
    delete server;
    g_server = nullptr;
    g_state = State::Idle;
    return 0;
}

namespace {

// Removes every libnmleak-agent entry from LD_PRELOAD (separated by ':' or ' ', as ld.so reads it)
// so that the analyzer's children do not get an agent (and a second socket) of their own.
void drop_from_preload(const char *preload) {
    std::string kept, entry;
    const std::string all = preload;
    for (size_t at = 0; at <= all.size(); ++at) {
        if (at == all.size() || all[at] == ':' || all[at] == ' ') {
            if (!entry.empty() && entry.find("libnmleak-agent") == std::string::npos)
                kept += (kept.empty() ? "" : ":") + entry;
            entry.clear();
        } else {
            entry += all[at];
        }
    }
    if (kept.empty()) ::unsetenv("LD_PRELOAD");
    else ::setenv("LD_PRELOAD", kept.c_str(), 1);
}

// Runs when the library is loaded. Preloaded (`nmleak run`): before main, while the process is
// still single-threaded, so changing the environment is safe; start the agent. Loaded by the
// injector's dlopen: do nothing here (the environment is not ours to touch in a running
// multi-threaded process); the injector calls nmleak_agent_start() next.
__attribute__((constructor)) void agent_init() {
    const char *preload = std::getenv("LD_PRELOAD");
    if (!preload || !std::strstr(preload, "libnmleak-agent")) return;
    g_preloaded = true;
    const char *follow = std::getenv("NMLEAK_FOLLOW_CHILDREN");
    if (!follow || std::strcmp(follow, "1") != 0) drop_from_preload(preload);
    const char *enabled = std::getenv("NMLEAK_AGENT");
    if (enabled && std::strcmp(enabled, "0") == 0) return;
    nmleak_agent_start();
}

} // namespace

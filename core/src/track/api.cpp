// api.cpp - the exported C functions of netmon.h and nmhost.h (but the memory calls, in ops.cpp, and
// NmWriteReport, which the report layer provides), the C++ entry points of nmleak/tracker.hpp, and
// the exit report's hook.
#include <string>

#include <dlfcn.h>
#include <unistd.h>

#include "netmon.h"
#include "nmhost.h"
#include "nmleak/heap.hpp"
#include "nmleak/tracker.hpp"
#include "track/exit_hook.hpp"
#include "track/reach.hpp"
#include "track/tracker.hpp"

#define NM_API extern "C" __attribute__((visibility("default")))

using nm::track::Tracker;

namespace nm::track {
extern thread_local int t_heap_busy __attribute__((tls_model("initial-exec"))); // heap_ops.cpp

// A host that is not nmleak's runner opens its keys itself and never sets a run key. Under the
// whole heap, a thread that allocates with a key works for it from then on (until it allocates
// with another): it becomes the thread's run key, and the key's module, unless one was set, is
// the module of the code that made the call. Reached only when the thread's run key differs (set
// even without the whole heap, where nothing reads it, so the next call does not come here).
__attribute__((noinline)) void adopt_run_key(void *key, const void *caller) noexcept {
    t_run_key = reinterpret_cast<uintptr_t>(key);
    if (!nm::heap::active()) return;
    Tracker &t = Tracker::get();
    KeyHandle kh;
    const Key *k = t.keys().find(key, kh);
    dl_find_object fo;
    if (k && !k->home.load(std::memory_order_acquire) &&
        _dl_find_object(const_cast<void *>(caller), &fo) == 0 && fo.dlfo_link_map)
        t.set_key_home(key, fo.dlfo_link_map);
}

} // namespace nm::track

// ExpertAllocMemory, ExpertReallocMemory, ExpertFreeMemory and ExpertMemorySize: ops.cpp, where
// the hot path is expanded into them.

NM_API DWORD WINAPI ExpertIndicateStatus(HEXPERTKEY hExpertKey, EXPERTSTATUSENUMERATION Status, DWORD SubStatus,
                                         const char *szText, LONG PercentDone) {
    return Tracker::get().indicate_status(hExpertKey, uint32_t(Status), SubStatus, szText, PercentDone);
}

NM_API HEXPERTKEY WINAPI NmOpenExpertKey(const char *expertName) {
    return Tracker::get().open_key(expertName);
}

NM_API DWORD WINAPI NmRequestExpertTerminate(HEXPERTKEY hExpertKey) {
    return Tracker::get().request_terminate(hExpertKey);
}

NM_API DWORD WINAPI NmCloseExpertKey(HEXPERTKEY hExpertKey, DWORD outcome, NMCLEANUPINFO *pInfo) {
    // A close may run a reachability pass (the opt-in reclaim of left-behind blocks): this
    // thread's stack is scanned from the host's frames up, not from nmleak's own below them.
    nm::track::reach::Entry entry;
    nm::track::reach::enter(&entry);
    nm::track::Cleanup c;
    DWORD rc = Tracker::get().close_key(hExpertKey, outcome, &c);
    nm::track::reach::leave(&entry);
    if (rc == NMERR_SUCCESS && pInfo) {
        pInfo->Blocks = c.blocks;
        pInfo->Bytes = c.bytes;
    }
    return rc;
}

NM_API DWORD WINAPI NmSetLeftBehindReclaim(DWORD mode) {
    if (mode > NM_RECLAIM_UNREACHABLE) return NMERR_INVALID_PARAMETER;
    Tracker::get().set_reclaim_left_behind(nm::track::ReclaimLeft(mode));
    return NMERR_SUCCESS;
}

NM_API DWORD WINAPI NmSetStackDepth(DWORD depth) {
    if (depth > NM_MAX_STACK_DEPTH) return NMERR_INVALID_PARAMETER;
    Tracker::get().set_stack_depth(depth);
    return NMERR_SUCCESS;
}

// ---- the C++ entry points for hosts (nmleak/tracker.hpp) ---------------------------------------

namespace nm {

bool record_outcome_detail(void *key, const std::string &detail, int signal, uint64_t address,
                           const uintptr_t *frames, size_t n_frames) {
    return Tracker::get().record_outcome_detail(key, detail, signal, address, frames, n_frames);
}

uint32_t key_check(void *key) { return Tracker::get().key_check(key); }

// Called from signal handlers: reads the thread-local state without creating it.
bool thread_in_api() noexcept {
    track::ThreadState *ts = track::t_state;
    return ts && ts->in_api.load(std::memory_order_relaxed) != 0;
}

void thread_recover_after_unwind() noexcept { Tracker::get().thread_recover(); }

void thread_prepare() noexcept {
    // As the heap path does: the allocations made while the state is created are nmleak's own.
    ++track::t_heap_busy;
    (void)Tracker::get().thread_state();
    --track::t_heap_busy;
}

void set_thread_run_key(void *key) noexcept { track::t_run_key = reinterpret_cast<uintptr_t>(key); }
void *thread_run_key() noexcept { return reinterpret_cast<void *>(track::t_run_key); }
bool set_key_module(void *key, const void *link_map) noexcept { return Tracker::get().set_key_home(key, link_map); }

} // namespace nm

// ---- the at-exit report hook (track/exit_hook.hpp) ----------------------------------------------

namespace nm::track {
namespace {
ExitHook g_exit_hook = nullptr;
pid_t g_exit_hook_pid = 0;
} // namespace

void set_exit_hook(ExitHook hook) {
    g_exit_hook_pid = ::getpid();
    g_exit_hook = hook;
}

void run_exit_hook() noexcept {
    if (g_exit_hook && ::getpid() == g_exit_hook_pid) g_exit_hook();
}

} // namespace nm::track

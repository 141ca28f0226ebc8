// tracker.hpp - C++ entry points into this process's tracker for hosts: outcome details, key
// checks, and the "inside libnmapi" test a signal handler needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace nm {

// Called by the host runner before it closes a key. Returns false for a key that is not open.
// `frames` (innermost first, may be null) is the faulting stack of a crash.
bool record_outcome_detail(void *key, const std::string &detail, int signal, uint64_t address,
                           const uintptr_t *frames, size_t n_frames);

// NMERR_SUCCESS for an open key, NMERR_EXPERT_TERMINATE once terminate was asked,
// NMERR_INVALID_EXPERT_HANDLE for anything else. Never dereferences the key.
uint32_t key_check(void *key);

// The whole heap (nmleak run): a malloc/new block made on a thread working for an expert key's run
// and charged to that key's module belongs to the key (beside its API blocks); otherwise it goes
// to its module's key. The host runner sets the thread's run key around Run and on the threads
// the expert starts (nullptr: none), and the key's module (a link_map, as dlinfo's
// RTLD_DI_LINKMAP gives) once the key is open. Both are cheap and allocation-free.
void set_thread_run_key(void *key) noexcept;
void *thread_run_key() noexcept;
bool set_key_module(void *key, const void *link_map) noexcept;

// Creates the calling thread's tracker state now, in ordinary context: before a signal handler
// asks for it, and before the thread's first heap call (under nmleak run a first malloc made by
// pthread_getattr_np, which holds the thread's lock, would otherwise need that lock again).
void thread_prepare() noexcept;

// True while the calling thread is inside a libnmapi call: a signal handler must not unwind it.
bool thread_in_api() noexcept;
// For a thread that a signal handler unwound (siglongjmp) out of an expert: forget any libnmapi
// call it was inside, so closing its key does not wait for it.
void thread_recover_after_unwind() noexcept;

// The calling thread is nmleak's own (the agent, the host's watchdog): its stack and registers are
// not roots of the reachability pass, which holds it like any other thread while it runs.
void mark_nmleak_thread() noexcept;

// The body of libnmapi's _exit() and _Exit(): unwinds a guarded expert thread whose own code
// (caller_pc) called it, else writes the NMLEAK_REPORT report (not in a fork child) and ends the
// process with `status`. For an interposer that comes before libnmapi (the preloaded agent).
[[noreturn]] void exit_without_atexit(int status, uintptr_t caller_pc) noexcept;

} // namespace nm

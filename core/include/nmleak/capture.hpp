// capture.hpp - the C++ entry points into this process's tracker, for hosts, the agent and tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "nmleak/model.hpp"

namespace nm {

// A symbolized snapshot of every key of this process (open and closed). Thread-safe; allocations
// keep running while it is taken. With include_blocks=false the live block lists are left empty.
// With blocks, each is classified by reachability (Block::reach) unless NMLEAK_REACH=0: the other
// threads are held for the pass (about 0.3 s per million blocks), never longer.
model::Snapshot capture_snapshot(bool include_blocks = true);

// The calling thread is nmleak's own (the agent's): its stack and registers are not roots of the
// reachability pass, and the pass may hold it like any other thread.
void mark_nmleak_thread() noexcept;

// Called by the host runner before it closes a key. Returns false for a key that is not open.
// `frames` (innermost first, may be null) is the faulting stack of a crash.
bool record_outcome_detail(void *key, const std::string &detail, int signal, uint64_t address,
                           const uintptr_t *frames, size_t n_frames);

// NMERR_SUCCESS for an open key, NMERR_EXPERT_TERMINATE once terminate was asked,
// NMERR_INVALID_EXPERT_HANDLE for anything else. Never dereferences the key.
uint32_t key_check(void *key);

// True while the calling thread is inside a libnmapi call: a signal handler must not unwind it.
bool thread_in_api() noexcept;
// For a thread that a signal handler unwound (siglongjmp) out of an expert: forget any libnmapi
// call it was inside, so closing its key does not wait for it.
void thread_recover_after_unwind() noexcept;

} // namespace nm

// heap.hpp - the whole-heap entry points: what libnmleak-heap.so's malloc/free/new/delete call.
//
// Loading libnmapi alone never calls these: only the interposition shim that `nmleak run` preloads
// does. Every function is safe from the first allocation of the process on (before constructors),
// from any thread, and re-entered from inside itself (then it serves nmleak's own, untracked block).
#pragma once

#include <cstddef>
#include <cstdint>

namespace nm::heap {

// The family a block was made by, for mismatch checks (free of new'd memory, delete of new[]).
enum class Fn : uint32_t { Malloc = 1, New = 2, NewArray = 3 };

// `frame`: __builtin_frame_address(0) of the interposed function (built with frame pointers).
void *allocate(size_t n, size_t align, Fn fn, bool zero, const void *frame) noexcept;
void release(void *p, Fn fn, const void *frame) noexcept;
void *reallocate(void *p, size_t n, const void *frame) noexcept;
size_t usable_size(const void *p) noexcept;

// A block of nmleak's own (never tracked or charged; free() recognizes it): what the shim keeps
// for itself, e.g. the start record of a thread it wraps.
void *own_allocate(size_t n) noexcept;
// Called once by the shim's constructor, before main: from here on blocks are tracked and charged
// to module keys. `wrappers`: extra allocation-wrapper patterns (NMLEAK_WRAPPERS).
void start(const char *wrappers);
// At exit, after the program's own exit handlers: later blocks are nmleak's own (the report's).
void stop_tracking() noexcept;
// After dlopen/dlclose: cached addresses may name other code now.
void objects_changed() noexcept;

bool active() noexcept;
uint64_t foreign_frees() noexcept;
// Blocks still live per module key (for tests and the agent's status line).
uint64_t module_keys() noexcept;

} // namespace nm::heap

// ---- Observing a heap nmleak does not serve (`nmleak attach` of a running process) -----------
//
// The process keeps its own allocator: its hooks (GOT entries redirected by the agent) call the
// real glibc function and then report the block here. Blocks live in a side table (address ->
// size, stack, time, module key), never behind a header, so a block freed by a path no hook
// covers is freed correctly by its owner; it only stays listed until its address is handed out
// again. Every function is safe from any thread once observe_start() returned; none of them may
// be called re-entrantly from inside the allocator (the hooks guard that).
namespace nm::heap {

// Starts observing (wrappers: as start()). False with *error when the heap is served by nmleak
// already (`nmleak run`). Idempotent while observing.
bool observe_start(const char *wrappers, const char **error) noexcept;
// Forgets every observed block (their figures leave the module keys) and stops recording. The
// module keys stay, with their history.
void observe_stop() noexcept;
bool observing() noexcept;
// Every hook is in place (true, after redirecting) or about to be put back (false, first thing
// before). Only while armed is a freed block remembered for double frees: while entries are being
// redirected or put back, a path no hook covers yet may hand its address out again.
void observe_arm(bool armed) noexcept;

// After the real allocator returned p for n bytes (p non-null).
void observed_alloc(void *p, size_t n, Fn fn, const void *frame) noexcept;
// Before the real free (or realloc) of p: forgets it, with its size in *size. False when p was
// not observed (made before the attach, or by a path no hook covers): counted as a foreign free.
// realloc: observed_free(p) before the real call (so a thread that gets p's address meanwhile
// records it afresh), observed_alloc(q) after it; on failure observed_alloc(p, *size) again.
// fn, frame (the hook's frame): a block made by another family (free of new'd memory, delete of
// malloc'd or new[]'d memory, delete[] of new'd) is recorded as a MismatchedFree misuse on its
// key with the freeing stack; the caller still calls its real function, as the program asked.
bool observed_free(void *p, uint64_t *size = nullptr, Fn fn = Fn::Malloc, const void *frame = nullptr) noexcept;

// What a hook does with a pointer the program frees (or reallocs).
enum class Release : uint32_t {
    Listed,  // an observed block (or not observing): forgotten; hand it to the real function
    Foreign, // not observed (made before the attach, or by a path no hook covers): hand it on
    Refused, // a misuse that would break glibc's heap: a double free of an observed block (freed
             // through a hook and not handed out again since), or a pointer glibc never made
             // (misaligned, inside an observed block, in a loaded object, on the calling
             // thread's stack, on an unmapped page). Recorded as a misuse event with the stack
             // of `frame`; the real function must NOT be called (realloc: fail with ENOMEM).
};
// observed_free with the misuse checks: `resize` for realloc/reallocarray (the misuse's function
// name). observed_free(...) is observed_release(...) == Listed, for callers that free anyway.
Release observed_release(void *p, uint64_t *size, Fn fn, const void *frame, bool resize) noexcept;
uint64_t observed_refused() noexcept; // frees and reallocs refused so far

// After a dlclose: cached module and unwind rules may name other code now.
void observed_objects_changed() noexcept;

uint64_t observed_foreign_frees() noexcept;
uint64_t observed_blocks() noexcept;   // live observed blocks
uint64_t observed_replaced() noexcept; // addresses handed out again while still listed (freed unseen)
// Bytes the process's heap had in use when observing started (mallinfo2's in-use figure): the
// foreign memory nmleak never saw made.
uint64_t observed_foreign_at_start() noexcept;

} // namespace nm::heap

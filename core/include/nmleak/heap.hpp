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

// heap_hooks.hpp - observing the heap of a running process (`nmleak attach`): redirect the malloc
// family and operator new/delete of every loaded module to hooks that record each block, and put
// everything back on detach. Called by the agent (inject/agent/agent.cpp).
#pragma once

#include <cstdint>
#include <string>

namespace nm::got {

// Resolves the process's own heap functions, refuses one whose malloc family is not glibc's,
// starts the tracker's observation and redirects the GOT entries of every loaded module (later
// ones too: a watcher thread). *status: one line for the user. Idempotent; true and a status
// saying so under `nmleak run` (the heap is tracked already).
bool heap_attach(std::string *status, std::string *error);
// Puts every entry back and forgets the observed blocks. The hooks stay mapped (and only pass
// through): a function pointer taken while attached may still lead there.
void heap_detach() noexcept;
// This thread runs nmleak's own code: its allocations are never recorded.
void mark_own_thread() noexcept;
uint64_t modules_patched_later() noexcept;

} // namespace nm::got

// exit_hook.hpp - the at-exit report for a process that ends without running atexit handlers
// (_exit, _Exit: a shell's usual way out). The report layer's writer is registered at start-up
// (nmapi.cpp); the host layer's _exit runs it.
#pragma once

namespace nm::track {

using ExitHook = void (*)() noexcept;

// Start-up only: the function that writes the at-exit report (once per process).
void set_exit_hook(ExitHook hook);
// Runs the hook, if one was set, unless this is a fork or vfork child of the process that set it
// (a vfork child shares its parent's memory and may do nothing but exec or _exit). The hook may end
// the process (NMLEAK_FAIL_ON_LEAK).
void run_exit_hook() noexcept;

} // namespace nm::track

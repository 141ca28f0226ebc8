// guard.hpp - runs expert code on a thread so that a fatal signal, or an interrupt from the
// watchdog, unwinds the thread back to the runner instead of killing the process.
//
// The mechanism: sigsetjmp in run_guarded(), a per-thread alternate signal stack (so a stack
// overflow can still be handled), and process-wide handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL,
// SIGABRT and the runner's interrupt signal that siglongjmp back only while the thread is armed;
// on any other thread they chain to the handler that was installed before (or the default action).
#pragma once

#include <csetjmp>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <atomic>

namespace nm::host {

struct CodeRange {
    uintptr_t lo = 0, hi = 0;
};

enum class GuardExit : int { Returned = 0, Crashed = 1, Interrupted = 2 };

inline constexpr size_t kFaultFrames = 64;

// Written by the signal handler (async-signal-safe stores only), read after the unwind.
struct FaultInfo {
    int signal = 0;
    int code = 0;          // si_code
    uintptr_t address = 0; // si_addr
    uintptr_t pc = 0;
    uintptr_t frames[kFaultFrames] = {}; // innermost first; frames[0] is the pc
    size_t n_frames = 0;
};

// One per guarded call, on the guarded thread's own stack.
struct Guard {
    sigjmp_buf env;
    std::atomic<int> armed{0};            // 1 while the thread may be unwound
    volatile sig_atomic_t exit_kind = 0;  // a GuardExit, set by the handler before siglongjmp
    // Set (by another thread) when the thread should be stopped; the interrupt handler unwinds
    // only when this is set and the thread is at a safe point.
    const std::atomic<int> *interrupt_wanted = nullptr;
    std::atomic<uint32_t> refusals{0};    // interrupts that found no safe point
    // Frame of the function that calls into the expert (set by that function): the frame-pointer
    // chain of the interrupted thread must reach it through expert frames only.
    uintptr_t boundary_fp = 0;
    uintptr_t stack_lo = 0, stack_hi = 0; // the guarded thread's stack
    const CodeRange *expert_text = nullptr;
    size_t n_expert_text = 0;
    // Every other loaded object's code (libc, libstdc++, libnmapi...), taken when the run starts:
    // a return address into it near the top of the stack means a library frame may be active.
    const CodeRange *other_text = nullptr;
    size_t n_other_text = 0;
    FaultInfo fault;
    Guard *outer = nullptr; // the thread's guard before this one (nested guards)
};

// Installs the process-wide handlers (once; later calls are no-ops).
void install_guard_handlers();
// The signal the watchdog sends to stop a run (a real-time signal, SIGRTMIN + 6).
int interrupt_signal();

// Makes the calling thread's signal mask let the fault and interrupt signals through.
void unblock_guard_signals();

// An alternate signal stack for the calling thread for the object's lifetime (left alone when the
// thread already has one).
class AltStack {
public:
    AltStack();
    ~AltStack();
    AltStack(const AltStack &) = delete;
    AltStack &operator=(const AltStack &) = delete;

private:
    void *base_ = nullptr;
    size_t size_ = 0;
};

// Fills the guard's stack bounds for the calling thread.
void set_stack_bounds(Guard &g);

// Calls fn(arg) armed. Returns how it ended; after Crashed or Interrupted, g.fault says where.
// fn must store __builtin_frame_address(0) in g.boundary_fp before it calls expert code.
GuardExit run_guarded(Guard &g, void (*fn)(void *), void *arg);
// Disarms the guard and makes it no longer the thread's, for a call that left run_guarded by an
// exception (pthread_exit's forced unwind) instead of returning.
void leave_guard(Guard &g);

// The executable segments of the loaded object that contains the address `inside`.
std::vector<CodeRange> text_ranges_of(const void *inside);
// The executable segments of every other loaded object (the vdso included).
std::vector<CodeRange> text_ranges_except(const void *inside);

} // namespace nm::host

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
#include <memory>
#include <string>

#include <sys/types.h>

namespace nm::host {

struct CodeRange {
    uintptr_t lo = 0, hi = 0;
};

// Exited: the guarded code called exit(), _exit() or _Exit() itself; the process goes on.
enum class GuardExit : int { Returned = 0, Crashed = 1, Interrupted = 2, Exited = 3 };

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

struct Guard;

// What the threads of one guarded run share, so that a thread the guarded code creates is guarded
// as well (see guarded_thread_policy): the code ranges, and what happens when such a thread
// crashes or calls exit(). Every guard of the run's threads keeps it alive.
struct ThreadPolicy {
    std::vector<CodeRange> expert_text; // the code whose direct exit() calls are caught
    std::vector<CodeRange> other_text;  // every other object's code (see Guard::other_text)
    void *run_key = nullptr;            // the run's key: the thread's heap blocks go to it
    virtual ~ThreadPolicy() = default;
    // Runs on a created thread after its guard unwound it (Crashed or Exited), or after its start
    // routine threw (how == Returned, *exception says what), in ordinary context. The thread then
    // ends with a null result.
    virtual void thread_failed(GuardExit how, const Guard &g, const std::string &exception) = 0;
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
    int exit_status = 0;    // for GuardExit::Exited: the status passed to exit()
    pid_t pid = 0;          // set by run_guarded; a fork child's copy of the guard is never used
    Guard *outer = nullptr; // the thread's guard before this one (nested guards)
    // Set by the caller: threads the guarded code creates while armed are guarded with it.
    std::shared_ptr<ThreadPolicy> threads;
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

// For pthread_create: the policy of the calling thread's guard when the call comes from guarded
// code (armed, this process, not inside a libnmapi call), else null.
std::shared_ptr<ThreadPolicy> guarded_thread_policy();
// For exit(), _exit() and _Exit(): unwinds the calling thread back to its run_guarded (which
// returns GuardExit::Exited) when the call comes straight from the guarded expert's code
// (caller_pc in its text); returns otherwise, and the process exits.
void unwind_if_guarded_exit(int status, uintptr_t caller_pc);
// The start routine of a created thread under `policy`: runs fn(arg) guarded.
void *run_guarded_thread(const std::shared_ptr<ThreadPolicy> &policy, void *(*fn)(void *), void *arg);

// The executable segments of the loaded object that contains the address `inside`.
std::vector<CodeRange> text_ranges_of(const void *inside);
// The executable segments of every other loaded object (the vdso included).
std::vector<CodeRange> text_ranges_except(const void *inside);

} // namespace nm::host

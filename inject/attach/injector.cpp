// injector.cpp - ptrace injection of the agent: borrow one thread, run dlopen + start on it, give
// it back. The borrowed thread finds its own way back: nmleak may die at any instant (SIGKILL, the
// OOM killer) and the target lives on with its registers and stack as they were.
//
// The sequence, on one thread T of the target (the others never stop):
//  1. PTRACE_SEIZE T (no stop, no signal), then PTRACE_INTERRUPT: T stops in a "ptrace-event-stop"
//     wherever it is: blocked in a system call, or in user code at its next kernel exit.
//  2. Is that a safe place to run dlopen? Not if T is inside libc or the dynamic loader (it may hold
//     the malloc arena lock or the loader lock, and dlopen would wait for itself forever). Blocked
//     in a waiting system call (read, poll, futex, nanosleep...) or in the program's own code is
//     safe. Otherwise let T run a millisecond and interrupt it again.
//  3. Save the general registers, the whole XSAVE area and the signal mask, and the stack bytes
//     about to be used (below the 128-byte red zone).
//  4. Below the red zone, write a kernel signal frame (struct rt_sigframe: ucontext with T's
//     registers, signal mask and XSAVE image) holding T's state as it must resume. Whoever ends
//     the borrowing with rt_sigreturn(2) on that frame puts T back exactly as a signal handler's
//     return would, nmleak or no nmleak.
//  5. The code T runs is a small trampoline (nm_tramp below) in a page of the target's own: an
//     anonymous r-x page nmleak maps once per process and finds again on later attaches. It calls
//     dlopen(agent) and nmleak_agent_start() (or only the latter when the library is loaded),
//     stores the results in a parameter block on the stack, says "done" there and waits in
//     ppoll(2) for 200 ms; then it calls rt_sigreturn on the frame. The first time, the page does
//     not exist: T is made to "handle a signal" whose handler is libc's mmap() and whose return
//     address is libc's own signal-return stub (__restore_rt), so the mmap too ends in
//     rt_sigreturn on the frame (nmleak follows that part with PTRACE_SYSCALL and catches the
//     rt_sigreturn's entry to send T into the new page instead).
//  6. nmleak lets T run the calls freely, polls "done", interrupts T in its wait and restores T
//     itself: vector state, then the registers as they were. The kernel then restarts the call T
//     was blocked in exactly as after any stop (a sleep keeps its remaining time: ppoll leaves the
//     thread's restart block alone). Then the stack bytes, and PTRACE_DETACH.
//
// Why every instant is safe: until T's registers are changed nothing of T changed. Every change of
// T's registers is one PTRACE_SETREGS that points T at code which ends in rt_sigreturn on the
// frame, and the frame and the code are complete in memory before that call. The last SETREGS
// installs T's original state. If nmleak dies in between, the kernel detaches T (nmleak never sets
// PTRACE_O_EXITKILL) and T runs on to the rt_sigreturn by itself. (Should nmleak be slower than
// the 200 ms wait, T has gone back through the frame already; nmleak sees T's rip outside the page
// and only detaches.)
//
// Why orig_rax = -1 while T is borrowed: when T was blocked in a system call, the interrupt left it
// with rax = -ERESTARTSYS (or a sibling) and orig_rax = the call number. On the way back to user
// mode the kernel "restarts" such a call by rewinding rip by 2 and reloading rax - that would wreck
// the code we set up. orig_rax = -1 means "not in a system call": nothing is rewound.
//
// Limits: x86-64 only; one tracer at a time (a debugger attached blocks us); a thread stopped by
// job control is resumed by the calls; epoll_wait, semop and sigtimedwait in T return EINTR
// (the kernel's rule for any stop; the thread chooser avoids such threads); a thread with a shadow
// stack (CET) is refused, since its rt_sigreturn checks a token nmleak cannot write; if nmleak
// dies while T is borrowed, a sleep T was in restarts from its full length, and the 4 KiB page stays
// mapped (later attaches use it). Ctrl-C is held off while T is borrowed.
#include "injector.hpp"

#include "elf_symbols.hpp"
#include "heap_target.hpp"
#include "proc.hpp"

#include <nmleak/sys.hpp>

#include <dlfcn.h>
#include <elf.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <vector>

namespace nm::inject {
namespace {

bool fail(std::string *error, std::string why) {
    if (error) *error = std::move(why);
    return false;
}

#if defined(__x86_64__)

constexpr int kMaxTries = 300;           // interrupts before giving up on a safe point
constexpr uint64_t kRedZone = 128;       // System V x86-64: bytes below rsp a leaf may use
constexpr long kErestartsys = 512, kErestartnointr = 513, kErestartnohand = 514, kErestartBlock = 516;

double now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// Holds off SIGINT/SIGTERM/SIGHUP/SIGQUIT in nmleak while a target thread is borrowed, so that it
// goes back the exact way (step 6) rather than through the frame; and SIGCHLD, which the tracer
// waits for with sigtimedwait.
class SignalHold {
public:
    SignalHold() {
        sigset_t s;
        sigemptyset(&s);
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&s, sig);
        sigprocmask(SIG_BLOCK, &s, &old_);
    }
    ~SignalHold() { sigprocmask(SIG_SETMASK, &old_, nullptr); }

private:
    sigset_t old_;
};

// The trampoline T runs, copied into the target's page. Position independent; everything it needs
// is in the parameter block at rsp (TrampParams, same offsets). When the calls are over it sets
// `done` and waits in ppoll(2) (kWaitMs), where nmleak interrupts it and puts T back (step 6);
// with no nmleak the wait times out and T ends in rt_sigreturn(2) on the frame at frame_sp.
// (ppoll, because an interrupted ppoll leaves the thread's restart block alone: a sleep T was in
// keeps its remaining time.)
extern "C" const unsigned char nm_tramp_start[], nm_tramp_end[];
asm(R"(
    .pushsection .rodata.nm_tramp,"a"
    .balign 16
nm_tramp_start:
    jmp 1f
    .ascii "NMLEAK-TRAMPOLINE-1"
1:  cld
    mov %rsp, %rbx
    and $-16, %rsp
    mov 48(%rbx), %rax
    test %rax, %rax
    jnz 3f
    mov 24(%rbx), %rdi
    mov 32(%rbx), %rsi
    call *0(%rbx)
    mov %rax, 64(%rbx)
    movq $1, 88(%rbx)
    test %rax, %rax
    jnz 2f
    mov 8(%rbx), %rax
    test %rax, %rax
    jz 4f
    call *%rax
    mov %rax, 72(%rbx)
    jmp 4f
2:  mov %rax, %rdi
    mov 40(%rbx), %rsi
    call *16(%rbx)
    mov %rax, 48(%rbx)
    test %rax, %rax
    jz 4f
3:  call *%rax
    mov %rax, 80(%rbx)
    movq $2, 88(%rbx)
4:  movq $1, 96(%rbx)
    xor %edi, %edi
    xor %esi, %esi
    lea 104(%rbx), %rdx
    xor %r10d, %r10d
    xor %r8d, %r8d
    mov $271, %eax
    syscall
    mov 56(%rbx), %rsp
5:  mov $15, %eax
    syscall
    jmp 5b
nm_tramp_end:
    .popsection
)");

struct TrampParams {
    uint64_t dlopen_fn, dlerror_fn, dlsym_fn; // 0, 8, 16
    uint64_t path, mode, start_name;          // 24, 32, 40
    uint64_t start_fn;                        // 48: in: known address, or 0 (dlopen + dlsym); out: resolved
    uint64_t frame_sp;                        // 56: rsp for the final rt_sigreturn (frame + 8)
    uint64_t handle, dl_error, start_rc;      // 64, 72, 80: results
    uint64_t stage;                           // 88: 1 dlopen returned, 2 the start function returned
    uint64_t done;                            // 96: the calls are over
    int64_t wait_s, wait_ns;                  // 104: then ppoll(NULL, 0, &wait) for nmleak to take over
};
static_assert(offsetof(TrampParams, start_fn) == 48 && offsetof(TrampParams, stage) == 88 &&
              offsetof(TrampParams, wait_s) == 104);

// The kernel's x86-64 signal frame (arch/x86/include/asm/sigframe.h, uapi asm/sigcontext.h):
// pretcode, then struct ucontext, then siginfo; the XSAVE image follows, 64-byte aligned.
struct KSigcontext {
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
    uint16_t cs, gs, fs, ss;
    uint64_t err, trapno, oldmask, cr2, fpstate;
    uint64_t reserved[8];
};
struct KStack {
    uint64_t sp;
    int32_t flags, pad;
    uint64_t size;
};
struct KUcontext {
    uint64_t flags, link;
    KStack stack;
    KSigcontext mcontext;
    uint64_t sigmask;
};
struct KSigframe {
    uint64_t pretcode;
    KUcontext uc;
    uint8_t siginfo[128];
};
static_assert(sizeof(KSigcontext) == 256 && offsetof(KUcontext, mcontext) == 40 && sizeof(KUcontext) == 304 &&
              sizeof(KSigframe) == 440);

constexpr uint64_t kUcFpXstate = 1, kUcSigcontextSs = 2, kUcStrictRestoreSs = 4;
constexpr uint32_t kFpXstateMagic1 = 0x46505853, kFpXstateMagic2 = 0x46505845;
constexpr long kSysMmap = 9, kSysRtSigreturn = 15, kSysRestartSyscall = 219;
constexpr uint64_t kPage = 4096;
constexpr int64_t kWaitMs = 200; // how long the trampoline waits for nmleak before going back itself

// One seized thread of the target.
class Tracee {
public:
    Tracee(pid_t pid, pid_t tid) : pid_(pid), tid_(tid), mem_(pid) {}
    ~Tracee() { release(); }
    Tracee(const Tracee &) = delete;
    Tracee &operator=(const Tracee &) = delete;

    bool seize(const ProcessInfo &info, std::string *error) {
        if (ptrace(PTRACE_SEIZE, tid_, nullptr, reinterpret_cast<void *>(uintptr_t(PTRACE_O_TRACESYSGOOD))) != 0) {
            if (errno == EPERM || errno == EACCES) {
                const pid_t tracer = thread_tracer(pid_, tid_);
                if (tracer > 0)
                    return fail(error, "thread " + std::to_string(tid_) + " of process " + std::to_string(pid_) +
                                           " is already traced by process " + std::to_string(tracer) +
                                           " (a debugger?); only one tracer at a time: detach it, or pick another "
                                           "thread with --thread TID");
                return fail(error, "permission denied: " + explain_ptrace_denied(pid_, info));
            }
            if (errno == ESRCH) return fail(error, "thread " + std::to_string(tid_) + " is gone");
            return fail(error, std::string("PTRACE_SEIZE: ") + std::strerror(errno));
        }
        seized_ = true;
        if (!mem_.ok()) return fail(error, "cannot open /proc/" + std::to_string(pid_) + "/mem: " + std::strerror(errno));
        return true;
    }

    // Steps 1-3 of the header comment.
    bool stop_at_safe_point(InjectResult *result, std::string *error) {
        for (int attempt = 1; attempt <= kMaxTries; ++attempt) {
            result->tries = attempt;
            if (ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0)
                return fail(error, std::string("PTRACE_INTERRUPT: ") + std::strerror(errno));
            int status = 0;
            if (!wait_event_stop(&status, error)) return false;
            stopped_at_ = now_ms();
            stopped_ = true;
            if (ptrace(PTRACE_GETREGS, tid_, nullptr, &saved_) != 0)
                return fail(error, std::string("PTRACE_GETREGS: ") + std::strerror(errno));
            std::vector<Mapping> maps;
            if (!read_maps(pid_, &maps, error)) return false;
            if (safe_point(maps)) return save_state(error);
            // Unsafe: let it run on a little and try again.
            if (ptrace(PTRACE_CONT, tid_, nullptr, nullptr) != 0)
                return fail(error, std::string("PTRACE_CONT: ") + std::strerror(errno));
            stopped_ = false;
            result->stopped_ms += now_ms() - stopped_at_;
            timespec pause{0, 1000000L * std::min(attempt, 10)};
            nanosleep(&pause, nullptr);
        }
        return fail(error, "thread " + std::to_string(tid_) + " never stopped outside libc and the dynamic loader in " +
                               std::to_string(kMaxTries) + " tries; pick another with --thread TID");
    }

    struct Calls {
        uint64_t dlopen_fn = 0, dlerror_fn = 0, dlsym_fn = 0, mode = 0;
        uint64_t start_fn = 0;   // known: only call it
        uint64_t mmap_fn = 0;    // libc's mmap, to create the trampoline page
        uint64_t restore_rt = 0; // libc's signal-return stub (mov $15,%rax; syscall)
        uint64_t page = 0;       // the trampoline page when the target has one already
        std::string path;
        std::string start_name = "nmleak_agent_start";
    };
    struct Outcome {
        bool dlopen_called = false, started = false;
        uint64_t handle = 0, start_fn = 0;
        int start_rc = 0;
        std::string dl_error;
    };

    // Steps 4-6. On success T is back as it was and detached; on failure T is either untouched
    // (still stopped, the destructor detaches it) or on its way back by itself.
    bool run(const Calls &c, Outcome *out, int timeout_ms, std::string *error) {
        if (!layout(c, error)) return false;
        const double deadline = now_ms() + timeout_ms;
        uint64_t page = c.page;
        if (!page) {
            // The "signal handler" mmap(NULL, 4096, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0).
            user_regs_struct r = borrowed_regs(c.mmap_fn, frame_);
            r.rdi = 0;
            r.rsi = kPage;
            r.rdx = PROT_READ | PROT_EXEC;
            r.rcx = MAP_PRIVATE | MAP_ANONYMOUS;
            r.r8 = ~0ull;
            r.r9 = 0;
            if (!set_regs(r, error) || !resume(0, error)) return false;
            bool in_mmap = false;
            int64_t mapped = -1;
            for (;;) {
                __ptrace_syscall_info si{};
                if (!next_syscall_stop(&si, deadline, error)) return false;
                if (si.op == PTRACE_SYSCALL_INFO_ENTRY) {
                    if (long(si.entry.nr) == kSysMmap && si.entry.args[1] == kPage &&
                        si.entry.args[2] == uint64_t(PROT_READ | PROT_EXEC))
                        in_mmap = true;
                    if (long(si.entry.nr) == kSysRtSigreturn && si.instruction_pointer == c.restore_rt + 9 &&
                        si.stack_pointer == frame_ + 8)
                        break; // mmap returned to __restore_rt: the frame is next
                } else if (si.op == PTRACE_SYSCALL_INFO_EXIT && in_mmap) {
                    in_mmap = false;
                    mapped = si.exit.is_error ? -1 : si.exit.rval;
                    mmap_errno_ = si.exit.is_error ? int(-si.exit.rval) : 0;
                }
                if (!resume(0, error)) return false;
            }
            if (mapped <= 0) {
                finish(true, error); // T is at the frame's rt_sigreturn: bring it back now
                return fail(error, std::string("mmap of the trampoline page failed in the target: ") +
                                       std::strerror(mmap_errno_ ? mmap_errno_ : EINVAL));
            }
            page = uint64_t(mapped);
            const size_t n = size_t(nm_tramp_end - nm_tramp_start);
            if (!mem_.write(page, nm_tramp_start, n)) {
                finish(true, error);
                return fail(error, "cannot write the trampoline into the target");
            }
            created_page_ = true;
        }
        // Into the trampoline (from the interrupt stop, or from the entry of __restore_rt's
        // rt_sigreturn, which is then skipped: orig_rax = -1). T runs freely until it says done.
        user_regs_struct r = borrowed_regs(page, params_);
        if (!set_regs(r, error) || !resume_cont(0, error)) return false;
        TrampParams p{};
        for (;;) {
            if (!reap_stops(deadline, error)) return false;
            if (mem_.read(params_ + offsetof(TrampParams, done), &p.done, sizeof p.done) && p.done) break;
        }
        // T is in the trampoline's ppoll (or about to be): stop it there.
        if (ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0)
            return fail(error, std::string("PTRACE_INTERRUPT: ") + std::strerror(errno));
        for (;;) {
            int status = 0;
            if (!wait_stop(&status, deadline, error)) return false;
            const int sig = WSTOPSIG(status);
            if ((status >> 16) == PTRACE_EVENT_STOP && sig == SIGTRAP) break;
            if ((status >> 16) == 0 && sig != (SIGTRAP | 0x80)) signals_delivered_ = true;
            const int deliver = (status >> 16) == 0 && sig != (SIGTRAP | 0x80) ? sig : 0;
            if (!resume_cont(deliver, error)) return false;
        }
        const bool got = mem_.read(params_, &p, sizeof p);
        if (got) {
            out->dlopen_called = p.stage >= 1 && c.start_fn == 0;
            out->handle = p.handle;
            out->start_fn = p.start_fn;
            out->started = p.stage >= 2;
            out->start_rc = int(int32_t(uint32_t(p.start_rc)));
            if (p.dl_error) out->dl_error = mem_.read_string(p.dl_error, 1024);
        }
        user_regs_struct now{};
        if (ptrace(PTRACE_GETREGS, tid_, nullptr, &now) != 0) return fail(error, std::string("PTRACE_GETREGS: ") + std::strerror(errno));
        if (now.rip >= page && now.rip < page + kPage) {
            if (!finish(false, error)) return false;
        } else {
            // nmleak was too slow: the wait timed out and the frame brought T back already.
            borrowed_ = false;
            borrowed_ms_ = now_ms() - stopped_at_;
            detach();
        }
        if (!got) return fail(error, "cannot read the injected calls' results");
        return true;
    }

    // Reads a NUL-terminated string of the target (T may run: it is not T's stack).
    std::string read_string(uint64_t address) const { return address ? mem_.read_string(address, 1024) : ""; }

    double borrowed_ms() const { return borrowed_ms_; }
    bool created_page() const { return created_page_; }

private:
    static std::string hex(uint64_t v) {
        char b[32];
        std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
        return b;
    }

    static pid_t thread_tracer(pid_t pid, pid_t tid) {
        std::string status;
        if (!sys::read_proc(pid, ("task/" + std::to_string(tid) + "/status").c_str(), &status)) return 0;
        return pid_t(std::atol(status_value(status, "TracerPid").c_str()));
    }

    // T's registers for running `ip` with the stack at `sp`; not in a system call.
    user_regs_struct borrowed_regs(uint64_t ip, uint64_t sp) const {
        user_regs_struct r = saved_;
        r.rip = ip;
        r.rsp = sp;
        r.rax = 0;
        r.orig_rax = ~0ull;       // not in a system call: no restart rewinding (header comment)
        r.eflags &= ~0x400ull;    // DF clear, as the ABI promises every function
        return r;
    }

    bool set_regs(const user_regs_struct &r, std::string *error) {
        if (ptrace(PTRACE_SETREGS, tid_, nullptr, &r) != 0)
            return fail(error, std::string("PTRACE_SETREGS: ") + std::strerror(errno));
        borrowed_ = true;
        return true;
    }

    bool resume(int sig, std::string *error) {
        if (ptrace(PTRACE_SYSCALL, tid_, nullptr, reinterpret_cast<void *>(uintptr_t(sig))) != 0)
            return fail(error, std::string("PTRACE_SYSCALL: ") + std::strerror(errno));
        stopped_ = false;
        return true;
    }

    bool resume_cont(int sig, std::string *error) {
        if (ptrace(PTRACE_CONT, tid_, nullptr, reinterpret_cast<void *>(uintptr_t(sig))) != 0)
            return fail(error, std::string("PTRACE_CONT: ") + std::strerror(errno));
        stopped_ = false;
        return true;
    }

    enum class Wait { Stop, Slice, Failed };
    // Waits (until `deadline`, or at most `slice_ms` when that is >= 0) for T's next stop.
    Wait wait_for(int *status, double deadline, std::string *error, double slice_ms) {
        const double until = slice_ms >= 0 ? std::min(deadline, now_ms() + slice_ms) : deadline;
        for (;;) {
            *status = 0;
            const pid_t r = waitpid(tid_, status, __WALL | WNOHANG);
            if (r < 0) return fail(error, std::string("waitpid: ") + std::strerror(errno)), Wait::Failed;
            if (r == 0) {
                if (now_ms() > deadline) {
                    fail(error, "the injected calls did not return in time (the borrowed thread may be waiting "
                                "for a lock it holds itself); it returns by itself when they do");
                    return Wait::Failed;
                }
                if (now_ms() > until) return Wait::Slice;
                // Stops of a tracee reach the tracer as SIGCHLD (held by SignalHold): wait for one.
                sigset_t chld;
                sigemptyset(&chld);
                sigaddset(&chld, SIGCHLD);
                timespec pause{0, 200000};
                sigtimedwait(&chld, nullptr, &pause);
                continue;
            }
            if (WIFEXITED(*status) || WIFSIGNALED(*status)) {
                seized_ = stopped_ = borrowed_ = false;
                fail(error, "the target exited during the injection");
                return Wait::Failed;
            }
            if (!WIFSTOPPED(*status)) continue;
            stopped_ = true;
            return Wait::Stop;
        }
    }
    bool wait_stop(int *status, double deadline, std::string *error) {
        return wait_for(status, deadline, error, -1) == Wait::Stop;
    }

    // While T runs the trampoline freely: handles the stops that come (signals for T, group
    // stops) for up to a fraction of a millisecond. False only on a real failure.
    bool reap_stops(double deadline, std::string *error) {
        int status = 0;
        const Wait w = wait_for(&status, deadline, error, 0.2);
        if (w != Wait::Stop) return w == Wait::Slice;
        const int sig = WSTOPSIG(status);
        const bool signal_stop = (status >> 16) == 0 && sig != (SIGTRAP | 0x80);
        if (signal_stop) signals_delivered_ = true;
        return resume_cont(signal_stop ? sig : 0, error);
    }

    // Waits for T's next syscall stop; signals meant for T are delivered on the way.
    bool next_syscall_stop(__ptrace_syscall_info *si, double deadline, std::string *error) {
        for (;;) {
            int status = 0;
            if (!wait_stop(&status, deadline, error)) return false;
            const int sig = WSTOPSIG(status);
            if (sig == (SIGTRAP | 0x80)) {
                if (ptrace(PTRACE_GET_SYSCALL_INFO, tid_, reinterpret_cast<void *>(sizeof *si), si) <= 0)
                    return fail(error, std::string("PTRACE_GET_SYSCALL_INFO: ") + std::strerror(errno));
                return true;
            }
            if ((status >> 16) == PTRACE_EVENT_STOP) {
                // A group stop (SIGSTOP to the process) or a late interrupt: keep the calls going.
                if (!resume(0, error)) return false;
                continue;
            }
            // Any other signal belongs to the target: deliver it, as if we were not here.
            signals_delivered_ = true;
            if (!resume(sig, error)) return false;
        }
    }

    // Step 6: T gets its own state back. At an interrupt stop (in the trampoline's wait), the
    // registers as they were and the kernel restarts an interrupted call as after any stop; at a
    // syscall-entry stop (the frame's rt_sigreturn, when the page could not be made), orig_rax
    // chooses the call the kernel makes instead.
    bool finish(bool at_syscall_entry, std::string *error) {
        bool ok = true;
        if (!xstate_.empty()) {
            iovec iov{xstate_.data(), xstate_.size()};
            if (ptrace(PTRACE_SETREGSET, tid_, reinterpret_cast<void *>(uintptr_t(NT_X86_XSTATE)), &iov) != 0)
                ok = fail(error, std::string("cannot restore vector registers: ") + std::strerror(errno));
        } else if (ptrace(PTRACE_SETFPREGS, tid_, nullptr, &fpregs_) != 0) {
            ok = fail(error, std::string("cannot restore FP registers: ") + std::strerror(errno));
        }
        if (!ok) {
            // Let the frame do it: skip nothing, T runs the rt_sigreturn when detached.
            release();
            return false;
        }
        user_regs_struct r = saved_;
        if (at_syscall_entry) adjust_for_syscall_entry(&r);
        if (ptrace(PTRACE_SETREGS, tid_, nullptr, &r) != 0) {
            release();
            return fail(error, std::string("cannot restore registers: ") + std::strerror(errno));
        }
        borrowed_ = false; // T is home: from here on nothing can go wrong for it
        if (!scratch_saved_.empty() && !mem_.write(scratch_low_, scratch_saved_.data(), scratch_saved_.size()))
            ok = fail(error, "cannot restore the target's stack bytes");
        borrowed_ms_ = now_ms() - stopped_at_;
        detach();
        return ok;
    }

    void adjust_for_syscall_entry(user_regs_struct *rp) const {
        user_regs_struct &r = *rp;
        // At a syscall entry, orig_rax is the call the kernel makes next. Interrupted in a call the
        // kernel restarts: make it now. Otherwise make none (-1): T returns to rip as it was.
        const long nr = long(saved_.orig_rax), err = -long(saved_.rax);
        if (nr >= 0 && (err == kErestartsys || err == kErestartnointr || err == kErestartnohand))
            r.orig_rax = uint64_t(nr);
        else if (nr >= 0 && err == kErestartBlock)
            // The sleep's remaining time is in the thread's restart block, unless a handler of the
            // target ran meanwhile (its return clears that block): then the whole call again.
            r.orig_rax = uint64_t(signals_delivered_ ? nr : kSysRestartSyscall);
        else
            r.orig_rax = ~0ull;
    }

    void detach() {
        if (seized_) ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
        seized_ = stopped_ = false;
    }

    // Lets go of T whatever the state: untouched or on its way back through the frame, T needs
    // nothing more from us. Stopped in a signal-delivery-stop, the signal stays T's.
    void release() {
        if (!seized_) return;
        if (!stopped_ && ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) == 0) {
            for (int i = 0; i < 2000; ++i) {
                int status = 0;
                const pid_t r = waitpid(tid_, &status, __WALL | WNOHANG);
                if (r < 0 || (r > 0 && (WIFEXITED(status) || WIFSIGNALED(status)))) {
                    seized_ = false;
                    return;
                }
                if (r > 0 && WIFSTOPPED(status)) {
                    const int sig = WSTOPSIG(status);
                    const bool signal_stop = sig != (SIGTRAP | 0x80) && (status >> 16) == 0;
                    ptrace(PTRACE_DETACH, tid_, nullptr, reinterpret_cast<void *>(uintptr_t(signal_stop ? sig : 0)));
                    seized_ = false;
                    return;
                }
                timespec pause{0, 1000000};
                nanosleep(&pause, nullptr);
            }
        }
        detach(); // stopped, or could not be stopped: the kernel detaches at our exit anyway
    }

    // Where the frame, the parameter block and the scratch copy live, below T's red zone; writes
    // the frame and the parameters.
    bool layout(const Calls &c, std::string *error) {
        const uint64_t top = (saved_.rsp - kRedZone) & ~uint64_t(63);
        const size_t fp_bytes = xstate_.empty() ? sizeof fpregs_ : xstate_.size() + 4;
        const uint64_t fp = (top - fp_bytes) & ~uint64_t(63);
        frame_ = ((fp - sizeof(KSigframe) - 8) & ~uint64_t(15)) + 8; // rsp % 16 == 8, as at a handler's entry
        const size_t strings = c.path.size() + 1 + c.start_name.size() + 1;
        params_ = (frame_ - sizeof(TrampParams) - strings - 64) & ~uint64_t(15);
        scratch_low_ = params_;
        scratch_saved_.assign(size_t(saved_.rsp - kRedZone - scratch_low_), 0);
        if (!mem_.read(scratch_low_, scratch_saved_.data(), scratch_saved_.size())) {
            scratch_saved_.clear();
            return fail(error, "the borrowed thread's stack has no room below its red zone");
        }

        // The frame: T as it must resume, as the kernel would have saved it to run a handler.
        std::vector<uint8_t> frame(size_t(fp + fp_bytes - frame_), 0);
        KSigframe f{};
        f.pretcode = c.restore_rt;
        f.uc.flags = kUcSigcontextSs | kUcStrictRestoreSs | (xstate_.empty() ? 0 : kUcFpXstate);
        // An invalid mode: rt_sigreturn's sigaltstack step then changes nothing (its error is ignored).
        f.uc.stack.flags = 0x1000;
        KSigcontext &m = f.uc.mcontext;
        const user_regs_struct &s = saved_;
        m.r8 = s.r8, m.r9 = s.r9, m.r10 = s.r10, m.r11 = s.r11, m.r12 = s.r12, m.r13 = s.r13, m.r14 = s.r14;
        m.r15 = s.r15, m.rdi = s.rdi, m.rsi = s.rsi, m.rbp = s.rbp, m.rbx = s.rbx, m.rdx = s.rdx, m.rax = s.rax;
        m.rcx = s.rcx, m.rsp = s.rsp, m.rip = s.rip, m.eflags = s.eflags;
        m.cs = uint16_t(s.cs);
        m.ss = uint16_t(s.ss);
        const long nr = long(s.orig_rax), err = -long(s.rax);
        if (nr >= 0 && (err == kErestartsys || err == kErestartnointr || err == kErestartnohand || err == kErestartBlock)) {
            // What the kernel does when it restarts a call: back to the syscall instruction with
            // the number in rax. (A sleep then starts over: the frame cannot keep its remaining time.)
            m.rip = s.rip - 2;
            m.rax = uint64_t(nr);
        }
        m.fpstate = fp;
        f.uc.sigmask = sigmask_;
        std::memcpy(frame.data(), &f, sizeof f);
        uint8_t *fpimg = frame.data() + (fp - frame_);
        if (xstate_.empty()) {
            std::memcpy(fpimg, &fpregs_, sizeof fpregs_);
        } else {
            std::memcpy(fpimg, xstate_.data(), xstate_.size());
            // The software-reserved bytes of the FXSAVE area tell rt_sigreturn an XSAVE image
            // follows (struct _fpx_sw_bytes at offset 464), with a second magic after it.
            uint32_t magic1 = 0;
            std::memcpy(&magic1, fpimg + 464, 4);
            uint32_t xsize = uint32_t(xstate_.size());
            if (magic1 != kFpXstateMagic1) {
                uint64_t features = 0;
                std::memcpy(&features, fpimg + 512, 8); // XSTATE_BV of the image
                features |= xcr0_user();
                const uint32_t sw[4] = {kFpXstateMagic1, xsize + 4, uint32_t(features), uint32_t(features >> 32)};
                std::memcpy(fpimg + 464, sw, sizeof sw);
                std::memcpy(fpimg + 480, &xsize, 4);
            } else {
                std::memcpy(&xsize, fpimg + 480, 4);
                if (xsize > xstate_.size()) xsize = uint32_t(xstate_.size());
            }
            std::memcpy(fpimg + xsize, &kFpXstateMagic2, 4);
        }
        if (!mem_.write(frame_, frame.data(), frame.size())) return fail(error, "cannot write the target's stack");

        // The parameter block and its strings.
        std::vector<uint8_t> block(sizeof(TrampParams) + strings, 0);
        TrampParams p{};
        p.dlopen_fn = c.dlopen_fn;
        p.dlerror_fn = c.dlerror_fn;
        p.dlsym_fn = c.dlsym_fn;
        p.mode = c.mode;
        p.start_fn = c.start_fn;
        p.frame_sp = frame_ + 8;
        p.wait_s = kWaitMs / 1000;
        p.wait_ns = (kWaitMs % 1000) * 1000000;
        p.path = params_ + sizeof p;
        p.start_name = p.path + c.path.size() + 1;
        std::memcpy(block.data(), &p, sizeof p);
        std::memcpy(block.data() + sizeof p, c.path.c_str(), c.path.size() + 1);
        std::memcpy(block.data() + sizeof p + c.path.size() + 1, c.start_name.c_str(), c.start_name.size() + 1);
        if (!mem_.write(params_, block.data(), block.size())) return fail(error, "cannot write the target's stack");
        return true;
    }

    static uint64_t xcr0_user() {
        uint32_t lo = 0, hi = 0;
        asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        return (uint64_t(hi) << 32) | lo;
    }

    bool wait_event_stop(int *status, std::string *error) {
        for (;;) {
            if (waitpid(tid_, status, __WALL) < 0) return fail(error, std::string("waitpid: ") + std::strerror(errno));
            if (WIFEXITED(*status) || WIFSIGNALED(*status)) {
                seized_ = false;
                return fail(error, "the target exited");
            }
            if (!WIFSTOPPED(*status)) continue;
            const int sig = WSTOPSIG(*status);
            if ((*status >> 16) == PTRACE_EVENT_STOP) {
                if (sig == SIGTRAP) return true; // our interrupt
                stopped_ = true;
                return fail(error, "the process is stopped by job control (signal " + std::to_string(sig) +
                                       "); resume it first: kill -CONT " + std::to_string(pid_));
            }
            // A signal arrived for this thread meanwhile: deliver it; our interrupt stays pending.
            ptrace(PTRACE_CONT, tid_, nullptr, reinterpret_cast<void *>(uintptr_t(sig)));
        }
    }

    bool safe_point(const std::vector<Mapping> &maps) const {
        const long nr = long(saved_.orig_rax);
        if (nr >= 0) {
            // At a system call boundary. Blocked and interrupted in a waiting call: safe. Otherwise
            // (mmap inside malloc, a write in progress...) it may hold locks: retry.
            const long err = -long(saved_.rax);
            const bool interrupted = err == kErestartsys || err == kErestartnointr || err == kErestartnohand ||
                                     err == kErestartBlock || err == EINTR;
            return interrupted && is_restartable_wait(nr);
        }
        // In user code: anywhere but libc and the loader, whose locks dlopen needs.
        for (const char *object : {"libc.so", "libc-", "ld-linux", "libpthread", "libdl"})
            if (in_object_text(maps, saved_.rip, object)) return false;
        return true;
    }

    bool save_state(std::string *error) {
        xstate_.assign(16384, 0); // XSAVE area: ~1 KiB (AVX) to ~11 KiB (AMX); the kernel says how much
        iovec iov{xstate_.data(), xstate_.size()};
        if (ptrace(PTRACE_GETREGSET, tid_, reinterpret_cast<void *>(uintptr_t(NT_X86_XSTATE)), &iov) == 0) {
            xstate_.resize(iov.iov_len);
        } else {
            xstate_.clear();
            if (ptrace(PTRACE_GETFPREGS, tid_, nullptr, &fpregs_) != 0)
                return fail(error, std::string("cannot save FP registers: ") + std::strerror(errno));
        }
        if (ptrace(PTRACE_GETSIGMASK, tid_, reinterpret_cast<void *>(sizeof sigmask_), &sigmask_) != 0)
            return fail(error, std::string("cannot read the thread's signal mask: ") + std::strerror(errno));
        return true;
    }

    pid_t pid_, tid_;
    ProcMem mem_;
    bool seized_ = false;   // we trace T
    bool stopped_ = false;  // T is in a ptrace stop
    bool borrowed_ = false; // T's registers point into our calls (only the frame brings it back)
    bool signals_delivered_ = false, created_page_ = false;
    int mmap_errno_ = 0;
    user_regs_struct saved_{};
    user_fpregs_struct fpregs_{};
    uint64_t sigmask_ = 0;
    std::vector<uint8_t> xstate_, scratch_saved_;
    uint64_t frame_ = 0, params_ = 0, scratch_low_ = 0;
    double stopped_at_ = 0, borrowed_ms_ = 0;
};

// libc's signal-return stub __restore_rt: "mov $15,%rax; syscall" (48 c7 c0 0f 00 00 00 0f 05),
// the sa_restorer glibc gives every handler. Not exported: found in libc's code.
bool find_restore_rt(pid_t pid, const std::vector<Mapping> &maps, const ProcMem &mem, uint64_t *address,
                     std::string *error) {
    static const uint8_t pattern[9] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
    for (const Mapping &m : maps) {
        if (m.perms.size() < 3 || m.perms[2] != 'x' || m.path.find("/libc.so") == std::string::npos) continue;
        std::vector<uint8_t> text(size_t(m.end - m.start));
        if (!mem.read(m.start, text.data(), text.size())) continue;
        auto it = std::search(text.begin(), text.end(), std::begin(pattern), std::end(pattern));
        if (it != text.end()) {
            *address = m.start + uint64_t(it - text.begin());
            return true;
        }
    }
    return fail(error, "cannot find the signal-return code of process " + std::to_string(pid) + "'s libc");
}

// The trampoline page of an earlier attach: an anonymous r-x page that holds this very code.
uint64_t find_trampoline_page(const std::vector<Mapping> &maps, const ProcMem &mem) {
    const size_t n = size_t(nm_tramp_end - nm_tramp_start);
    std::vector<uint8_t> buf(n);
    for (const Mapping &m : maps) {
        if (!m.path.empty() || m.perms != "r-xp" || m.end - m.start != kPage) continue;
        if (mem.read(m.start, buf.data(), n) && std::memcmp(buf.data(), nm_tramp_start, n) == 0) return m.start;
    }
    return 0;
}

// True when a thread runs with a CET shadow stack (Linux 6.6+ reports it in its status).
bool has_shadow_stack(pid_t pid, pid_t tid) {
    std::string status;
    if (!sys::read_proc(pid, ("task/" + std::to_string(tid) + "/status").c_str(), &status)) return false;
    return status_value(status, "x86_Thread_features").find("shstk") != std::string::npos;
}

// Best thread to borrow: parked in a restartable wait (read, poll, nanosleep...; futex last, as a
// lock waiter may hold other locks), then threads in user code, then anything else. Never our own
// agent thread.
bool choose_thread(pid_t pid, pid_t forced, ThreadInfo *out, std::string *error) {
    std::vector<ThreadInfo> threads = list_threads(pid);
    if (threads.empty()) return fail(error, "cannot list the threads of process " + std::to_string(pid));
    if (forced) {
        for (const ThreadInfo &t : threads)
            if (t.tid == forced) {
                if (t.tracer > 0 && t.tracer != ::getpid())
                    return fail(error, "thread " + std::to_string(forced) + " is already traced by process " +
                                           std::to_string(t.tracer) + " (a debugger?); only one tracer at a time: "
                                           "detach it, or pick another thread");
                *out = t;
                return true;
            }
        return fail(error, "process " + std::to_string(pid) + " has no thread " + std::to_string(forced));
    }
    auto rank = [](const ThreadInfo &t) {
        if (is_restartable_wait(t.syscall)) return t.syscall == 202 ? 1 : 0;
        if (t.syscall < 0) return 2;
        return 3;
    };
    const ThreadInfo *best = nullptr;
    for (const ThreadInfo &t : threads) {
        if (t.comm == "nmleak-agent" || t.tracer > 0) continue; // ours, or a debugger's
        if (!best || rank(t) < rank(*best) || (rank(t) == rank(*best) && t.tid == pid)) best = &t;
    }
    if (!best) {
        for (const ThreadInfo &t : threads)
            if (t.tracer > 0)
                return fail(error, "every thread of process " + std::to_string(pid) + " is traced already (thread " +
                                       std::to_string(t.tid) + " by process " + std::to_string(t.tracer) +
                                       ", a debugger?); only one tracer at a time: detach it first");
        return fail(error, "process " + std::to_string(pid) + " has no thread to borrow");
    }
    *out = *best;
    return true;
}

#endif // __x86_64__

} // namespace

bool inject_agent(pid_t pid, const InjectOptions &options, InjectResult *result, std::string *error) {
#if !defined(__x86_64__)
    (void)pid, (void)options, (void)result;
    return fail(error, "nmleak attach is implemented for x86-64 only");
#else
    const ProcessInfo info = inspect_process(pid);
    if (!info.exists) return fail(error, "no such process: " + std::to_string(pid));
    if (info.state == 'Z' || info.state == 'X') return fail(error, describe_exited(pid, info));
    if (const std::string setid = setid_reason(pid); !setid.empty()) return fail(error, setid);
    if (!info.maps_readable)
        return fail(error, "permission denied reading /proc/" + std::to_string(pid) + "/maps: " +
                               explain_ptrace_denied(pid, info));
    if (!info.has_libnmapi && !options.heap)
        return fail(error, "process " + std::to_string(pid) + " (" + info.comm +
                               ") is not an nmleak process: libnmapi.so is not mapped in it (without --no-heap, "
                               "nmleak attach observes the heap of any process)");
    if (info.state == 'T')
        return fail(error, "process " + std::to_string(pid) + " is stopped; resume it first: kill -CONT " + std::to_string(pid));
    if (info.tracer != 0) return fail(error, explain_ptrace_denied(pid, info));
    std::string what;
    if (!is_x86_64_elf("/proc/" + std::to_string(pid) + "/exe", &what))
        return fail(error, "process " + std::to_string(pid) + " is " + what + "; nmleak attach handles x86-64 only");
    const std::string agent_in_target = "/proc/" + std::to_string(pid) + "/root" + options.agent_path;
    if (::access(agent_in_target.c_str(), R_OK) != 0)
        return fail(error, "the agent " + options.agent_path + " is not visible inside process " + std::to_string(pid) +
                               "'s filesystem (another mount namespace?)");

    std::vector<Mapping> maps;
    if (!read_maps(pid, &maps, error)) return false;
    if (options.heap && !check_heap_target(pid, info, maps, error)) return false;
    const std::string start_name = options.heap ? "nmleak_agent_start_heap" : "nmleak_agent_start";
    const Mapping *libc = find_by_name(maps, "libc.so.6");
    if (!libc) libc = find_by_name(maps, "libc-");
    if (!libc) return fail(error, "process " + std::to_string(pid) + " has no glibc mapped");
    uint64_t dlopen_fn = 0, dlerror_fn = 0, open_mode = RTLD_NOW;
    std::string why;
    if (!resolve_symbol(pid, *libc, "dlopen", &dlopen_fn, &why)) {
        // glibc before 2.34 keeps dlopen in libdl; its private twin in libc needs __RTLD_DLOPEN.
        if (!resolve_symbol(pid, *libc, "__libc_dlopen_mode", &dlopen_fn, error)) return false;
        open_mode |= 0x80000000u;
    } else {
        resolve_symbol(pid, *libc, "dlerror", &dlerror_fn, &why);
    }
    // Symbols are looked up before the thread is stopped whenever possible: ELF parsing is the
    // slowest step and the thread need not wait for it.
    const Mapping *agent = find_by_name(maps, "libnmleak-agent.so");
    uint64_t start_fn = 0, error_buf = 0;
    if (agent) {
        if (!resolve_symbol(pid, *agent, start_name, &start_fn, error)) return false;
        resolve_symbol(pid, *agent, "nmleak_agent_error", &error_buf, &why);
    }

    // dlsym, for the start function once dlopen returned (glibc before 2.34: __libc_dlsym).
    uint64_t dlsym_fn = 0, mmap_fn = 0;
    if (!resolve_symbol(pid, *libc, "dlsym", &dlsym_fn, &why) &&
        !resolve_symbol(pid, *libc, "__libc_dlsym", &dlsym_fn, error))
        return false;
    if (!resolve_symbol(pid, *libc, "mmap", &mmap_fn, error)) return false;

    ThreadInfo thread;
    if (!choose_thread(pid, options.tid, &thread, error)) return false;
    if (has_shadow_stack(pid, thread.tid))
        return fail(error, "thread " + std::to_string(thread.tid) + " runs with a CET shadow stack; nmleak attach "
                           "cannot return it safely (start the analyzer with 'nmleak run' instead)");
    result->tid = thread.tid;
    result->thread_state = thread.comm + ", " + describe_syscall(thread.syscall);

    SignalHold hold;
    Tracee t(pid, thread.tid);
    if (!t.seize(info, error)) return false;
    // Still running: the look-ups that need /proc/PID/mem come before the thread stops.
    ProcMem mem(pid);
    Tracee::Calls calls;
    calls.dlopen_fn = dlopen_fn;
    calls.dlerror_fn = dlerror_fn;
    calls.dlsym_fn = dlsym_fn;
    calls.mode = open_mode;
    calls.mmap_fn = mmap_fn;
    calls.start_fn = start_fn;
    calls.path = options.agent_path;
    calls.start_name = start_name;
    calls.page = find_trampoline_page(maps, mem);
    if (!calls.page && !find_restore_rt(pid, maps, mem, &calls.restore_rt, error)) return false;
    if (!t.stop_at_safe_point(result, error)) return false;
    Tracee::Outcome got;
    if (!t.run(calls, &got, options.call_timeout_ms, error)) return false;
    result->stopped_ms += t.borrowed_ms();
    result->loaded_library = got.dlopen_called;
    if (got.dlopen_called && !got.handle)
        return fail(error, "dlopen(" + options.agent_path + ") failed in the target" +
                               (got.dl_error.empty() ? std::string() : ": " + got.dl_error));
    if (!got.started) return fail(error, "the agent library has no " + start_name + " in process " + std::to_string(pid));
    if (got.start_rc < 0) {
        // Why: the agent's own message, in its nmleak_agent_error buffer.
        std::string agent_error;
        if (read_maps(pid, &maps, &why))
            if (const Mapping *a = find_by_name(maps, "libnmleak-agent.so"))
                if (resolve_symbol(pid, *a, "nmleak_agent_error", &error_buf, &why)) agent_error = mem.read_string(error_buf, 512);
        return fail(error, "the agent did not start in process " + std::to_string(pid) + ": " +
                               (agent_error.empty() ? "unknown reason" : agent_error));
    }
    result->already_running = got.start_rc == 1;
    if (options.heap && read_maps(pid, &maps, &why))
        if (const Mapping *a = find_by_name(maps, "libnmleak-agent.so"))
            if (uint64_t status = 0; resolve_symbol(pid, *a, "nmleak_agent_heap_status", &status, &why))
                result->heap_status = mem.read_string(status, 512);
    return true;
#endif
}

} // namespace nm::inject

// injector.cpp - ptrace injection of the agent: borrow one thread, call dlopen + start, give it back.
//
// The sequence, on one thread T of the target (the others never stop):
//  1. PTRACE_SEIZE T (no stop, no signal), then PTRACE_INTERRUPT: T stops in a "ptrace-event-stop"
//     wherever it is: blocked in a system call, or in user code at its next kernel exit.
//  2. Is that a safe place to run dlopen? Not if T is inside libc or the dynamic loader (it may hold
//     the malloc arena lock or the loader lock, and dlopen would wait for itself forever). Blocked
//     in a waiting system call (read, poll, futex, nanosleep...) or in the program's own code is
//     safe. Otherwise let T run a millisecond and interrupt it again.
//  3. Save the general registers and the whole XSAVE area (the interrupted code may live in xmm/ymm
//     registers that dlopen clobbers), and the stack bytes about to be used.
//  4. For each call: below the 128-byte red zone write the string arguments and a return address
//     of 0; point rip at the function, rdi/rsi at the arguments; set orig_rax = -1 and continue.
//     The function returns to address 0, faults, and the SIGSEGV stops T before any handler of the
//     target's runs (signal-delivery-stop); rax holds the result. The signal is then discarded.
//  5. Restore registers, vector state and memory; PTRACE_DETACH with no signal.
//
// Why orig_rax = -1: when T was blocked in a system call, the interrupt left it with
// rax = -ERESTARTSYS (or a sibling) and orig_rax = the call number. On the way back to user mode
// the kernel "restarts" such a call by rewinding rip by 2 and reloading rax - that would wreck the
// call we set up. orig_rax = -1 means "not in a system call": nothing is rewound. Step 5 puts the
// original orig_rax and rax back, so on the final resume the kernel does restart the interrupted
// read() (or poll(), nanosleep()...) exactly as after any signal without a handler.
//
// Limits: x86-64 only; one tracer at a time (a debugger attached blocks us); a thread stopped by
// job control is resumed by the calls; epoll_wait, semop and sigtimedwait in T return EINTR
// (the kernel's rule for any stop; the thread chooser avoids such threads); if the target dies of
// something else mid-call, so be it. Ctrl-C is held off while T is borrowed.
#include "injector.hpp"

#include "elf_symbols.hpp"
#include "proc.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
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
constexpr uint64_t kScratch = 8192;      // our strings and return slot, below the red zone
constexpr long kErestartsys = 512, kErestartnointr = 513, kErestartnohand = 514, kErestartBlock = 516;

double now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// Holds off SIGINT/SIGTERM/SIGHUP/SIGQUIT in nmleak while a target thread is borrowed: dying then
// would leave that thread running our call with no one to put it back.
class SignalHold {
public:
    SignalHold() {
        sigset_t s;
        sigemptyset(&s);
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&s, sig);
        sigprocmask(SIG_BLOCK, &s, &old_);
    }
    ~SignalHold() { sigprocmask(SIG_SETMASK, &old_, nullptr); }

private:
    sigset_t old_;
};

// One seized thread of the target.
class Tracee {
public:
    Tracee(pid_t pid, pid_t tid) : pid_(pid), tid_(tid), mem_(pid) {}
    ~Tracee() {
        std::string ignored;
        if (modified_) restore(&ignored);
        if (seized_) ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
    }
    Tracee(const Tracee &) = delete;
    Tracee &operator=(const Tracee &) = delete;

    bool seize(const ProcessInfo &info, std::string *error) {
        if (ptrace(PTRACE_SEIZE, tid_, nullptr, nullptr) != 0) {
            if (errno == EPERM || errno == EACCES) return fail(error, "permission denied: " + explain_ptrace_denied(pid_, info));
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
            if (ptrace(PTRACE_GETREGS, tid_, nullptr, &saved_) != 0)
                return fail(error, std::string("PTRACE_GETREGS: ") + std::strerror(errno));
            std::vector<Mapping> maps;
            if (!read_maps(pid_, &maps, error)) return false;
            if (safe_point(maps)) return save_extended_state(error);
            // Unsafe: let it run on a little and try again.
            if (ptrace(PTRACE_CONT, tid_, nullptr, nullptr) != 0)
                return fail(error, std::string("PTRACE_CONT: ") + std::strerror(errno));
            result->stopped_ms += now_ms() - stopped_at_;
            timespec pause{0, 1000000L * std::min(attempt, 10)};
            nanosleep(&pause, nullptr);
        }
        return fail(error, "thread " + std::to_string(tid_) + " never stopped outside libc and the dynamic loader in " +
                               std::to_string(kMaxTries) + " tries; pick another with --thread TID");
    }

    // Step 4: calls fn(a0, a1) on the thread; *ret is rax when it returns.
    bool call(uint64_t fn, uint64_t a0, uint64_t a1, uint64_t *ret, int timeout_ms, std::string *error) {
        user_regs_struct regs = saved_;
        regs.rip = fn;
        regs.rdi = a0;
        regs.rsi = a1;
        regs.rax = 0;
        regs.orig_rax = ~0ull;       // not in a system call: no restart rewinding (header comment)
        regs.rsp = scratch_base() + 56; // rsp % 16 == 8 at entry, as after a call instruction
        regs.eflags &= ~0x400ull;    // DF clear, as the ABI promises every function
        const uint64_t zero = 0;
        if (!mem_.write(regs.rsp, &zero, sizeof zero)) return fail(error, "cannot write the target's stack");
        if (ptrace(PTRACE_SETREGS, tid_, nullptr, &regs) != 0)
            return fail(error, std::string("PTRACE_SETREGS: ") + std::strerror(errno));
        modified_ = true;
        if (ptrace(PTRACE_CONT, tid_, nullptr, nullptr) != 0) return fail(error, std::string("PTRACE_CONT: ") + std::strerror(errno));
        const double deadline = now_ms() + timeout_ms;
        for (;;) {
            int status = 0;
            const pid_t r = waitpid(tid_, &status, __WALL | WNOHANG);
            if (r < 0) return fail(error, std::string("waitpid: ") + std::strerror(errno));
            if (r == 0) {
                if (now_ms() > deadline)
                    return fail(error, "the injected call did not return within " + std::to_string(timeout_ms / 1000) +
                                           " s (the borrowed thread may be waiting for a lock it holds itself)");
                timespec pause{0, 100000};
                nanosleep(&pause, nullptr);
                continue;
            }
            if (WIFEXITED(status) || WIFSIGNALED(status)) {
                seized_ = modified_ = false;
                return fail(error, "the target exited during the injection");
            }
            if (!WIFSTOPPED(status)) continue;
            const int sig = WSTOPSIG(status);
            if ((status >> 16) == PTRACE_EVENT_STOP) {
                // A group stop (SIGSTOP to the process) or a late interrupt: keep our call going.
                ptrace(PTRACE_CONT, tid_, nullptr, nullptr);
                continue;
            }
            if (sig == SIGSEGV) {
                user_regs_struct after;
                if (ptrace(PTRACE_GETREGS, tid_, nullptr, &after) != 0)
                    return fail(error, std::string("PTRACE_GETREGS: ") + std::strerror(errno));
                if (after.rip == 0) {
                    *ret = after.rax;
                    return true; // the SIGSEGV is ours: never delivered (restore/detach drop it)
                }
                return fail(error, "the injected call crashed (SIGSEGV at " + hex(after.rip) + ")");
            }
            // Any other signal belongs to the target: deliver it, as if we were not here.
            ptrace(PTRACE_CONT, tid_, nullptr, reinterpret_cast<void *>(uintptr_t(sig)));
        }
    }

    // Writes a string into the scratch area (below the return slot's arguments); its address.
    bool put_string(const std::string &s, uint64_t *address, std::string *error) {
        if (s.size() + 1 > kScratch - 64) return fail(error, "path too long: " + s);
        *address = scratch_base() + 64;
        if (!mem_.write(*address, s.c_str(), s.size() + 1)) return fail(error, "cannot write the target's stack");
        return true;
    }

    std::string read_string(uint64_t address) const { return address ? mem_.read_string(address, 1024) : ""; }

    // Step 5.
    bool restore(std::string *error) {
        bool ok = true;
        if (!scratch_saved_.empty() && !mem_.write(scratch_base(), scratch_saved_.data(), scratch_saved_.size()))
            ok = fail(error, "cannot restore the target's stack bytes");
        if (ptrace(PTRACE_SETREGS, tid_, nullptr, &saved_) != 0)
            ok = fail(error, std::string("cannot restore registers: ") + std::strerror(errno));
        if (!xstate_.empty()) {
            iovec iov{xstate_.data(), xstate_.size()};
            if (ptrace(PTRACE_SETREGSET, tid_, reinterpret_cast<void *>(uintptr_t(NT_X86_XSTATE)), &iov) != 0)
                ok = fail(error, std::string("cannot restore vector registers: ") + std::strerror(errno));
        } else if (have_fpregs_ && ptrace(PTRACE_SETFPREGS, tid_, nullptr, &fpregs_) != 0) {
            ok = fail(error, std::string("cannot restore FP registers: ") + std::strerror(errno));
        }
        modified_ = false;
        return ok;
    }

    double detach() {
        if (seized_) ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
        seized_ = false;
        return now_ms() - stopped_at_;
    }

    const user_regs_struct &saved() const { return saved_; }

private:
    static std::string hex(uint64_t v) {
        char b[32];
        std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
        return b;
    }

    uint64_t scratch_base() const { return ((saved_.rsp - kRedZone) & ~uint64_t(15)) - kScratch; }

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

    bool save_extended_state(std::string *error) {
        xstate_.assign(16384, 0); // XSAVE area: ~1 KiB (AVX) to ~11 KiB (AMX); the kernel says how much
        iovec iov{xstate_.data(), xstate_.size()};
        if (ptrace(PTRACE_GETREGSET, tid_, reinterpret_cast<void *>(uintptr_t(NT_X86_XSTATE)), &iov) == 0) {
            xstate_.resize(iov.iov_len);
        } else {
            xstate_.clear();
            have_fpregs_ = ptrace(PTRACE_GETFPREGS, tid_, nullptr, &fpregs_) == 0;
            if (!have_fpregs_) return fail(error, std::string("cannot save FP registers: ") + std::strerror(errno));
        }
        scratch_saved_.assign(kScratch, 0);
        if (!mem_.read(scratch_base(), scratch_saved_.data(), scratch_saved_.size())) {
            scratch_saved_.clear();
            return fail(error, "the borrowed thread's stack has no room below its red zone");
        }
        return true;
    }

    pid_t pid_, tid_;
    ProcMem mem_;
    bool seized_ = false, modified_ = false, have_fpregs_ = false;
    user_regs_struct saved_{};
    user_fpregs_struct fpregs_{};
    std::vector<uint8_t> xstate_, scratch_saved_;
    double stopped_at_ = 0;
};

// Best thread to borrow: parked in a restartable wait (read, poll, nanosleep...; futex last, as a
// lock waiter may hold other locks), then threads in user code, then anything else. Never our own
// agent thread, never one with SIGSEGV blocked (the kernel would reset the target's SIGSEGV
// handler when our return-to-0 faults).
bool choose_thread(pid_t pid, pid_t forced, ThreadInfo *out, std::string *error) {
    std::vector<ThreadInfo> threads = list_threads(pid);
    if (threads.empty()) return fail(error, "cannot list the threads of process " + std::to_string(pid));
    if (forced) {
        for (const ThreadInfo &t : threads)
            if (t.tid == forced) {
                if (t.sigsegv_blocked) return fail(error, "thread " + std::to_string(forced) + " blocks SIGSEGV; pick another");
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
        if (t.comm == "nmleak-agent" || t.sigsegv_blocked) continue;
        if (!best || rank(t) < rank(*best) || (rank(t) == rank(*best) && t.tid == pid)) best = &t;
    }
    if (!best) return fail(error, "every thread of process " + std::to_string(pid) + " blocks SIGSEGV");
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
    if (!info.maps_readable)
        return fail(error, "permission denied reading /proc/" + std::to_string(pid) + "/maps: " +
                               explain_ptrace_denied(pid, info));
    if (!info.has_libnmapi)
        return fail(error, "process " + std::to_string(pid) + " (" + info.comm +
                               ") is not an nmleak process: libnmapi.so is not mapped in it");
    if (info.state == 'Z' || info.state == 'X') return fail(error, "process " + std::to_string(pid) + " is exiting");
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
        if (!resolve_symbol(pid, *agent, "nmleak_agent_start", &start_fn, error)) return false;
        resolve_symbol(pid, *agent, "nmleak_agent_error", &error_buf, &why);
    }

    ThreadInfo thread;
    if (!choose_thread(pid, options.tid, &thread, error)) return false;
    result->tid = thread.tid;
    result->thread_state = thread.comm + ", " + describe_syscall(thread.syscall);

    SignalHold hold;
    Tracee t(pid, thread.tid);
    if (!t.seize(info, error) || !t.stop_at_safe_point(result, error)) return false;
    if (!agent) {
        uint64_t path_addr = 0, handle = 0;
        if (!t.put_string(options.agent_path, &path_addr, error) ||
            !t.call(dlopen_fn, path_addr, open_mode, &handle, options.call_timeout_ms, error))
            return false;
        if (!handle) {
            uint64_t msg = 0;
            std::string reason;
            if (dlerror_fn && t.call(dlerror_fn, 0, 0, &msg, options.call_timeout_ms, &why)) reason = t.read_string(msg);
            return fail(error, "dlopen(" + options.agent_path + ") failed in the target" +
                                   (reason.empty() ? std::string() : ": " + reason));
        }
        result->loaded_library = true;
        if (!read_maps(pid, &maps, error)) return false;
        agent = find_by_name(maps, "libnmleak-agent.so");
        if (!agent) return fail(error, "dlopen succeeded but the agent library is not mapped");
    }
    if (!start_fn) {
        if (!resolve_symbol(pid, *agent, "nmleak_agent_start", &start_fn, error)) return false;
        resolve_symbol(pid, *agent, "nmleak_agent_error", &error_buf, &why);
    }
    uint64_t rc = 0;
    if (!t.call(start_fn, 0, 0, &rc, options.call_timeout_ms, error)) return false;
    const int start_rc = int(int32_t(uint32_t(rc)));
    std::string agent_error = start_rc < 0 ? t.read_string(error_buf) : std::string();
    if (!t.restore(error)) return false;
    result->stopped_ms += t.detach();
    if (start_rc < 0)
        return fail(error, "the agent did not start in process " + std::to_string(pid) + ": " +
                               (agent_error.empty() ? "unknown reason" : agent_error));
    result->already_running = start_rc == 1;
    return true;
#endif
}

} // namespace nm::inject

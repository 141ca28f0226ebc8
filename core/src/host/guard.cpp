// guard.cpp - the fault/interrupt signal handlers and the safe-point test that decides when an
// expert's thread may be unwound.
//
// Everything reachable from a handler is async-signal-safe: thread-local reads (initial-exec, so
// no lazy TLS allocation), atomics, bounded reads of the thread's own stack and code, sigaction,
// raise, siglongjmp. Anything that allocates (dladdr, symbolizing, strings) happens after the
// unwind, on the thread's ordinary stack.
#include "host/guard.hpp"

#include <nmleak/tracker.hpp>

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

namespace nm::host {
namespace {

constexpr int kFaultSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

// The handler state is written once by install_guard_handlers() before any handler is installed
// and only read afterwards.
struct sigaction g_prev[NSIG];
int g_interrupt_sig = 0;
std::once_flag g_install_once;

// libc functions that only sleep: an expert blocked in one of them holds no libc lock, so it may
// be unwound there (provided its own frames check out). Nothing that reads or writes files: those
// are also called by stdio with the FILE lock held.
constexpr const char *kSleepFunctions[] = {"nanosleep", "clock_nanosleep", "usleep", "pause", "sigsuspend"};
CodeRange g_sleep_ranges[sizeof(kSleepFunctions) / sizeof(kSleepFunctions[0])];
size_t g_n_sleep_ranges = 0;

thread_local Guard *t_guard __attribute__((tls_model("initial-exec"))) = nullptr;

struct Registers {
    uintptr_t pc = 0, fp = 0, sp = 0;
};

Registers registers_of(const void *context) {
    Registers r;
    const auto *uc = static_cast<const ucontext_t *>(context);
#if defined(__x86_64__)
    r.pc = uintptr_t(uc->uc_mcontext.gregs[REG_RIP]);
    r.fp = uintptr_t(uc->uc_mcontext.gregs[REG_RBP]);
    r.sp = uintptr_t(uc->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
    r.pc = uintptr_t(uc->uc_mcontext.pc);
    r.fp = uintptr_t(uc->uc_mcontext.regs[29]);
    r.sp = uintptr_t(uc->uc_mcontext.sp);
#else
    (void)uc; // no register access: crash stacks are empty and interrupts never find a safe point
#endif
    return r;
}

const CodeRange *range_of(const CodeRange *r, size_t n, uintptr_t a) {
    for (size_t i = 0; i < n; ++i)
        if (a >= r[i].lo && a < r[i].hi) return &r[i];
    return nullptr;
}

bool in_ranges(const CodeRange *r, size_t n, uintptr_t a) { return range_of(r, n, a) != nullptr; }

// A frame record (saved fp, return address) the walk may read: on the live part of this thread's
// stack, so the read cannot fault.
bool readable_frame(const Guard &g, uintptr_t fp, uintptr_t sp) {
    return fp >= sp && fp >= g.stack_lo && fp + 2 * sizeof(uintptr_t) <= g.stack_hi &&
           (fp & (sizeof(uintptr_t) - 1)) == 0;
}

#if defined(__x86_64__)
// Is `ret` the address right after a call instruction? Return addresses are; function pointers and
// data seldom are. Only the bytes of a code range are read (each range is mapped in full).
bool follows_call(uintptr_t ret, const CodeRange &range) {
    if (ret < range.lo + 8 || ret > range.hi) return false;
    const auto *p = reinterpret_cast<const unsigned char *>(ret);
    if (p[-5] == 0xe8) return true;                                   // call rel32
    if (p[-6] == 0xff && (p[-5] == 0x15 || (p[-5] & 0xf8) == 0x90)) return true; // call [rip/reg+disp32]
    if (p[-2] == 0xff && (p[-1] & 0xf8) == 0xd0) return true;         // call %reg
    if (p[-3] == 0xff && (p[-2] & 0xf8) == 0x50) return true;         // call [reg+disp8]
    if (p[-3] == 0x41 && p[-2] == 0xff && (p[-1] & 0xf8) == 0xd0) return true; // call %r8-%r15
    return false;
}
#else
bool follows_call(uintptr_t, const CodeRange &) { return true; }
#endif

// A word that looks like a return address into some loaded object's code.
bool looks_like_return(const Guard &g, uintptr_t word) {
    const CodeRange *r = range_of(g.expert_text, g.n_expert_text, word);
    if (!r) r = range_of(g.other_text, g.n_other_text, word);
    return r && follows_call(word, *r);
}

// Words of the innermost frame: from sp up to the first frame record (at most kScanWords).
constexpr size_t kScanWords = 512;

void walk_fault_stack(Guard &g, const Registers &r) {
    FaultInfo &f = g.fault;
    f.n_frames = 0;
    f.frames[f.n_frames++] = r.pc;
    // A function without a frame of its own (GCC builds small leaves that way even with
    // -fno-omit-frame-pointer) has its return address at [sp], and the frame-pointer chain below
    // would skip its caller.
    if (r.sp >= g.stack_lo && r.sp + sizeof(uintptr_t) <= g.stack_hi) {
        uintptr_t top = *reinterpret_cast<const uintptr_t *>(r.sp);
        bool chain_has_it = readable_frame(g, r.fp, r.sp) && reinterpret_cast<const uintptr_t *>(r.fp)[1] == top;
        if (!chain_has_it && looks_like_return(g, top)) f.frames[f.n_frames++] = top;
    }
    uintptr_t fp = r.fp;
    while (f.n_frames < kFaultFrames && readable_frame(g, fp, r.sp)) {
        const auto *rec = reinterpret_cast<const uintptr_t *>(fp);
        uintptr_t next = rec[0], ret = rec[1];
        if (ret < 4096) break;
        f.frames[f.n_frames++] = ret;
        if (fp == g.boundary_fp || next <= fp) break; // the runner's own frames are not the fault's
        fp = next;
    }
}

#if defined(__x86_64__)
// True when pc is at an instruction where the frame-pointer chain does not describe the current
// function yet (prologue: endbr64, push %rbp, mov %rsp,%rbp) or any more (ret): there the walk
// would skip the function's caller, which could be a lock-holding libc function calling back into
// the expert. Bytes are read one at a time, each only when the previous one says the instruction
// is long enough to contain it, so no read leaves the mapped instruction.
bool at_frame_edge(uintptr_t pc) {
    const auto *p = reinterpret_cast<const unsigned char *>(pc);
    if (p[0] == 0x55 || p[0] == 0xc3 || p[0] == 0xc2) return true;           // push %rbp; ret
    if (p[0] == 0xf3) return p[1] == 0xc3 || (p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa); // rep ret; endbr64
    if (p[0] == 0x48) return p[1] == 0x89 && p[2] == 0xe5;                    // mov %rsp,%rbp
    return false;
}
#else
bool at_frame_edge(uintptr_t) { return false; }
#endif

// True when the innermost frame region [sp, fp) (or its first kScanWords words) holds a return
// address into code other than the expert's. That is how a function with no frame of its own (a
// small leaf, a shrink-wrapped prologue, a tail call) shows that a library called it: the
// frame-pointer chain alone would skip that library frame. A function pointer into a library kept
// in a local can look the same; that only makes the interrupt try again later.
bool foreign_return_on_top(const Guard &g, const Registers &r) {
    // fp == sp is an empty region (a frame whose locals sit in the red zone). Never past the
    // boundary frame: above it are the runner's own frames, whose return addresses are libnmapi's.
    uintptr_t end = r.fp >= r.sp && r.fp <= g.stack_hi ? r.fp : r.sp + kScanWords * sizeof(uintptr_t);
    if (end - r.sp > kScanWords * sizeof(uintptr_t)) end = r.sp + kScanWords * sizeof(uintptr_t);
    if (end > g.boundary_fp) end = g.boundary_fp;
    if (end > g.stack_hi) end = g.stack_hi;
    for (uintptr_t a = r.sp; a + sizeof(uintptr_t) <= end; a += sizeof(uintptr_t)) {
        uintptr_t word = *reinterpret_cast<const uintptr_t *>(a);
        const CodeRange *other = range_of(g.other_text, g.n_other_text, word);
        if (other && follows_call(word, *other)) return true;
    }
    return false;
}

// May the interrupted thread be unwound here? Only if it runs the expert's own code (or sleeps in
// a plain sleep call made from it) and every frame between here and the runner's boundary frame
// returns into the expert: then no libc, C++ runtime or libnmapi function is on the stack in the
// middle of its work, and no lock of theirs can be held.
bool at_safe_point(const Guard &g, const Registers &r) {
    bool in_expert = in_ranges(g.expert_text, g.n_expert_text, r.pc);
    if (!in_expert && !in_ranges(g_sleep_ranges, g_n_sleep_ranges, r.pc)) return false;
    if (in_expert && at_frame_edge(r.pc)) return false;
    if (r.sp < g.stack_lo || r.sp >= g.stack_hi || !g.boundary_fp) return false;
    // A sleep function's own frame (no frame pointer) holds its return address into the expert
    // or into another sleep function; only an expert pc needs the scan.
    if (in_expert && foreign_return_on_top(g, r)) return false;
    uintptr_t fp = r.fp;
    for (;;) {
        if (fp == g.boundary_fp) return true; // in Run itself, before its frame is built
        if (!readable_frame(g, fp, r.sp)) return false;
        const auto *rec = reinterpret_cast<const uintptr_t *>(fp);
        uintptr_t next = rec[0], ret = rec[1];
        if (next == g.boundary_fp) return true; // this is Run's frame: it returns to the runner
        if (!in_ranges(g.expert_text, g.n_expert_text, ret)) return false;
        if (next <= fp) return false;
        fp = next;
    }
}

// What would have happened without us: the previous handler, or the default action.
void chain(int sig, siginfo_t *info, void *context) {
    const struct sigaction &prev = g_prev[sig];
    if (prev.sa_flags & SA_SIGINFO) {
        if (prev.sa_sigaction) prev.sa_sigaction(sig, info, context);
        return;
    }
    bool kernel_fault = info && info->si_code > 0 && sig != g_interrupt_sig;
    if (prev.sa_handler == SIG_IGN && !kernel_fault) return;
    if (prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) {
        if (sig == g_interrupt_sig) return; // a late interrupt for a run that already ended
        // Restore the default action. A fault re-executes the faulting instruction when we return
        // and now takes it; a sent signal (kill, abort's raise) must be raised again: it stays
        // pending while this handler runs and is delivered when it returns.
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, nullptr);
        if (!kernel_fault) raise(sig);
        return;
    }
    prev.sa_handler(sig);
}

void on_fault(int sig, siginfo_t *info, void *context) {
    Guard *g = t_guard;
    // A fork child inherits the thread's guard, armed: its crashes are its own.
    if (g && g->pid == getpid() && g->armed.exchange(0, std::memory_order_relaxed)) {
        Registers r = registers_of(context);
        g->fault.signal = sig;
        g->fault.code = info ? info->si_code : 0;
        g->fault.address = info ? reinterpret_cast<uintptr_t>(info->si_addr) : 0;
        g->fault.pc = r.pc;
        walk_fault_stack(*g, r);
        g->exit_kind = int(GuardExit::Crashed);
        siglongjmp(g->env, 1); // restores the mask saved by sigsetjmp: sig is unblocked again
    }
    int saved = errno;
    chain(sig, info, context);
    errno = saved;
}

void on_interrupt(int sig, siginfo_t *info, void *context) {
    int saved = errno;
    Guard *g = t_guard;
    if (g && g->pid == getpid() && g->armed.load(std::memory_order_relaxed) && g->interrupt_wanted &&
        g->interrupt_wanted->load(std::memory_order_relaxed)) {
        Registers r = registers_of(context);
        // thread_in_api() is the tracker's own word that this thread is not inside a libnmapi
        // call (the pc test alone already refuses libnmapi's code). It is asked second: the runner
        // creates the tracker's thread state before arming, so here it is a thread-local read.
        if (at_safe_point(*g, r) && !nm::thread_in_api() && g->armed.exchange(0, std::memory_order_relaxed)) {
            g->fault.signal = 0;
            g->fault.code = 0;
            g->fault.address = 0;
            g->fault.pc = r.pc;
            walk_fault_stack(*g, r);
            g->exit_kind = int(GuardExit::Interrupted);
            siglongjmp(g->env, 2);
        }
        g->refusals.fetch_add(1, std::memory_order_relaxed);
        errno = saved;
        return;
    }
    chain(sig, info, context);
    errno = saved;
}

void find_sleep_functions() {
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc) return;
    for (const char *name : kSleepFunctions) {
        void *sym = dlsym(libc, name);
        Dl_info info{};
        ElfW(Sym) *entry = nullptr;
        if (!sym || !dladdr1(sym, &info, reinterpret_cast<void **>(&entry), RTLD_DL_SYMENT) || !entry ||
            !entry->st_size)
            continue;
        uintptr_t lo = reinterpret_cast<uintptr_t>(sym);
        g_sleep_ranges[g_n_sleep_ranges++] = CodeRange{lo, lo + entry->st_size};
    }
    dlclose(libc); // RTLD_NOLOAD took a reference
}

struct TextQuery {
    uintptr_t inside;             // an address in the wanted object (one of its functions)
    std::vector<CodeRange> *out;
};

int text_ranges_cb(dl_phdr_info *info, size_t, void *arg) {
    auto *q = static_cast<TextQuery *>(arg);
    std::vector<CodeRange> text;
    bool match = false;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD) continue;
        uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
        if (q->inside >= lo && q->inside < hi) match = true;
        if (ph.p_flags & PF_X) text.push_back(CodeRange{lo, hi});
    }
    if (!match) return 0;
    *q->out = std::move(text);
    return 1;
}

} // namespace

int interrupt_signal() {
    install_guard_handlers();
    return g_interrupt_sig;
}

void install_guard_handlers() {
    std::call_once(g_install_once, [] {
        g_interrupt_sig = SIGRTMIN + 6;
        find_sleep_functions();
        struct sigaction sa {};
        sigemptyset(&sa.sa_mask);
        // SA_ONSTACK: a stack overflow is handled on the thread's alternate stack.
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sa.sa_sigaction = on_fault;
        for (int sig : kFaultSignals) sigaction(sig, &sa, &g_prev[sig]);
        // SA_RESTART: an interrupt that finds no safe point should disturb the expert as little as
        // possible (sleeps still return early: nanosleep is never restarted).
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
        sa.sa_sigaction = on_interrupt;
        sigaction(g_interrupt_sig, &sa, &g_prev[g_interrupt_sig]);
    });
}

void unblock_guard_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kFaultSignals) sigaddset(&set, sig);
    sigaddset(&set, interrupt_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

AltStack::AltStack() {
    stack_t current{};
    if (sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return; // keep the thread's own
    long page = sysconf(_SC_PAGESIZE);
    long min = sysconf(_SC_MINSIGSTKSZ);
    size_t usable = 64 * 1024;
    if (min > 0 && size_t(min) * 4 > usable) usable = size_t(min) * 4;
    size_ = usable + size_t(page); // one guard page below: an overflowing handler faults cleanly
    void *m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (m == MAP_FAILED) {
        size_ = 0;
        return;
    }
    mprotect(m, size_t(page), PROT_NONE);
    stack_t ss{};
    ss.ss_sp = static_cast<char *>(m) + page;
    ss.ss_size = usable;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, nullptr) != 0) {
        munmap(m, size_);
        size_ = 0;
        return;
    }
    base_ = m;
}

AltStack::~AltStack() {
    if (!base_) return;
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, nullptr);
    munmap(base_, size_);
}

void set_stack_bounds(Guard &g) {
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
    void *addr = nullptr;
    size_t size = 0;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        g.stack_lo = reinterpret_cast<uintptr_t>(addr);
        g.stack_hi = g.stack_lo + size;
    }
    pthread_attr_destroy(&attr);
}

__attribute__((noinline)) GuardExit run_guarded(Guard &g, void (*fn)(void *), void *arg) {
    install_guard_handlers();
    Guard *volatile self = &g; // read again after a siglongjmp
    Guard *outer = t_guard;
    g.outer = outer;
    g.pid = getpid();
    t_guard = &g;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (sigsetjmp(g.env, 1) != 0) {
        // Back from a handler, which disarmed the guard before jumping.
        t_guard = outer;
        return GuardExit(self->exit_kind);
    }
    g.armed.store(1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst); // armed before any expert instruction
    fn(arg);
    g.armed.store(0, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_guard = outer;
    return GuardExit::Returned;
}

struct OtherTextQuery {
    uintptr_t skip_inside;
    std::vector<CodeRange> *out;
};

int other_text_cb(dl_phdr_info *info, size_t, void *arg) {
    auto *q = static_cast<OtherTextQuery *>(arg);
    std::vector<CodeRange> text;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD) continue;
        uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
        if (q->skip_inside >= lo && q->skip_inside < hi) return 0; // the expert itself
        if (ph.p_flags & PF_X) text.push_back(CodeRange{lo, hi});
    }
    q->out->insert(q->out->end(), text.begin(), text.end());
    return 0;
}

void leave_guard(Guard &g) {
    g.armed.store(0, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (t_guard == &g) t_guard = g.outer;
}

std::shared_ptr<ThreadPolicy> guarded_thread_policy() {
    Guard *g = t_guard;
    if (!g || !g->threads || !g->armed.load(std::memory_order_relaxed) || g->pid != getpid()) return nullptr;
    // Threads libnmapi starts for itself during an API call are not the expert's.
    if (nm::thread_in_api()) return nullptr;
    return g->threads;
}

void unwind_if_guarded_exit(int status, uintptr_t caller_pc) {
    Guard *g = t_guard;
    if (!g || g->pid != getpid() || !g->armed.load(std::memory_order_relaxed)) return;
    // Only a call made by the expert's own code: a library that calls exit() while its frames
    // (and perhaps its locks) are on the stack is left to end the process.
    if (!in_ranges(g->expert_text, g->n_expert_text, caller_pc) || nm::thread_in_api()) return;
    if (!g->armed.exchange(0, std::memory_order_relaxed)) return;
    g->exit_status = status;
    g->fault = FaultInfo{};
    g->fault.pc = caller_pc;
    g->fault.frames[0] = caller_pc;
    g->fault.n_frames = 1;
    g->exit_kind = int(GuardExit::Exited);
    siglongjmp(g->env, 3);
}

std::vector<CodeRange> text_ranges_except(const void *inside) {
    std::vector<CodeRange> out;
    OtherTextQuery q{reinterpret_cast<uintptr_t>(inside), &out};
    dl_iterate_phdr(other_text_cb, &q);
    return out;
}

std::vector<CodeRange> text_ranges_of(const void *inside) {
    std::vector<CodeRange> out;
    TextQuery q{reinterpret_cast<uintptr_t>(inside), &out};
    dl_iterate_phdr(text_ranges_cb, &q);
    return out;
}

} // namespace nm::host

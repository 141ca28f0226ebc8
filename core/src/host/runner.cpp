// runner.cpp - the runner's C API (nmhost.h): load an expert, run it on its own thread with its
// own key, decide the outcome, record why, and close the key.
#include <nmhost.h>

#include <nmleak/text.hpp>
#include <nmleak/tracker.hpp>
#include <nmleak/sys.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <algorithm>
#include <cstring>

#include "host/guard.hpp"
#include "host/run_state.hpp"

struct _NMEXPERT {
    std::shared_ptr<const nm::host::ExpertModule> module;
    std::shared_ptr<nm::host::ConfigStore> config = std::make_shared<nm::host::ConfigStore>();
};
struct _NMRUN {
    std::shared_ptr<nm::host::RunState> run;
};

namespace nm::host {
namespace {

constexpr size_t kRunStackBytes = size_t{8} << 20;

void copy_text(char *dst, size_t cap, const std::string &s) {
    if (!dst || !cap) return;
    size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
    std::memcpy(dst, s.data(), n);
    dst[n] = '\0';
}

uint32_t ms_between(Clock::time_point a, Clock::time_point b) {
    return uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
}

// What the expert's entry points did, filled on the run's thread by call_expert.
struct RunCall {
    Guard *guard = nullptr;
    RunState *run = nullptr;
    bool configure_called = false;
    bool configure_failed = false;
    std::string bad_config; // why Configure's configuration was refused
    bool returned = false;
    BOOL value = FALSE;
    bool threw = false;
    bool thread_exited = false; // pthread_exit (or cancellation) from inside the expert
    const char *threw_in = "";
    std::string exception;
};

constexpr size_t kMaxConfigBytes = size_t{1} << 20; // a configuration that is no block of the key

// Takes what Configure left in *ppConfig into the host's hands: checks it, copies it into the
// run's copy and the expert's store, and frees its block from the key. False (and *why) for a bad
// one; the store is then unchanged.
bool keep_configuration(RunState &run, PEXPERTCONFIG cfg, std::string *why) {
    if (!cfg) {
        run.store->set(nullptr, 0);
        run.has_config_copy = false;
        run.config_copy.clear();
        return true;
    }
    SIZE_T block = ExpertMemorySize(run.key, cfg); // 0: not a live block of this key
    DWORD len = cfg->RawConfigLength;
    SIZE_T limit = block ? block : kMaxConfigBytes;
    if (len < sizeof(DWORD) || len > limit) {
        *why = "Configure returned a configuration with RawConfigLength " + std::to_string(len) +
               (block ? " in a block of " + std::to_string(block) + " bytes" : std::string(" (not a block of its key)")) +
               " (it counts the whole structure, its own 4 bytes included)";
        if (block) ExpertFreeMemory(run.key, cfg);
        return false;
    }
    const auto *bytes = reinterpret_cast<const unsigned char *>(cfg);
    run.config_copy.assign(bytes, bytes + len);
    run.has_config_copy = true;
    run.store->set(bytes, len);
    if (block) ExpertFreeMemory(run.key, cfg);
    return true;
}

// Configure on the run's key: with a copy of the kept configuration in a block of the key (so
// Configure may reallocate it), or NULL. False when Configure failed or its result was refused.
bool call_configure(RunCall *c, RunState &run, bool with_kept) {
    PEXPERTCONFIG cfg = nullptr;
    if (with_kept && run.has_config_copy && !run.config_copy.empty()) {
        cfg = static_cast<PEXPERTCONFIG>(ExpertAllocMemory(run.key, run.config_copy.size(), nullptr));
        if (cfg) std::memcpy(cfg, run.config_copy.data(), run.config_copy.size());
    }
    c->configure_called = true;
    c->threw_in = "Configure";
    PEXPERTCONFIG passed = cfg;
    if (!run.module->configure_fn(run.key, &cfg, &run.startup, run.startup_flags, nullptr)) {
        c->configure_failed = true;
        // The copy is the host's: give it back if Configure left it in place.
        if (cfg && cfg == passed && ExpertMemorySize(run.key, cfg)) ExpertFreeMemory(run.key, cfg);
        return false;
    }
    if (!keep_configuration(run, cfg, &c->bad_config)) {
        c->configure_failed = true;
        return false;
    }
    return true;
}

// The boundary frame between the runner and the expert (see Guard::boundary_fp). Exceptions
// are caught here, below every expert frame.
__attribute__((noinline)) void call_expert(void *arg) {
    auto *c = static_cast<RunCall *>(arg);
    c->guard->boundary_fp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    RunState &run = *c->run;
    PEXPERTCONFIG config = run.config;
    try {
        if (run.configure_only) {
            c->value = call_configure(c, run, true) ? TRUE : FALSE;
            c->returned = true;
            return;
        }
        if (!config && !run.has_config_copy && run.module->configure_fn && !call_configure(c, run, false)) return;
        if (!config && run.has_config_copy && !run.config_copy.empty())
            config = reinterpret_cast<PEXPERTCONFIG>(run.config_copy.data());
        c->threw_in = "Run";
        c->value = run.module->run_fn(run.key, config, &run.startup, run.startup_flags, nullptr);
        c->returned = true;
    } catch (abi::__forced_unwind &) {
        // pthread_exit: glibc unwinds the thread and aborts the process if this is swallowed.
        c->thread_exited = true;
        throw;
    } catch (...) {
        c->threw = true;
        c->exception = describe_current_exception();
    }
}

const char *signal_code_text(int sig, int code) {
    switch (sig) {
    case SIGSEGV: return code == SEGV_MAPERR ? "address not mapped" : code == SEGV_ACCERR ? "access not permitted" : nullptr;
    case SIGBUS: return code == BUS_ADRALN ? "misaligned address" : code == BUS_ADRERR ? "no backing memory" : nullptr;
    case SIGFPE: return code == FPE_INTDIV ? "integer divide by zero" : code == FPE_INTOVF ? "integer overflow" : nullptr;
    case SIGILL: return code == ILL_ILLOPN || code == ILL_ILLOPC ? "illegal instruction" : nullptr;
    case SIGABRT: return "abort";
    default: return nullptr;
    }
}

std::string crash_text(const FaultInfo &f) {
    std::string s = "crashed: " + sys::signal_name(f.signal);
    if (const char *why = signal_code_text(f.signal, f.code)) s += std::string(" (") + why + ")";
    if (f.signal == SIGSEGV || f.signal == SIGBUS) {
        char buf[40];
        std::snprintf(buf, sizeof buf, " at address 0x%" PRIxPTR, f.address);
        s += buf;
    }
    return s + ", pc " + describe_code_address(f.pc);
}

std::string exit_text(const char *who, const Guard &g) {
    return std::string(who) + " called exit(" + std::to_string(g.exit_status) + ") at " +
           describe_code_address(g.fault.pc) + "; the run ended there and the host goes on";
}

// The threads the expert starts while it runs: guarded like Run. A failure while the run goes on
// is the run's failure (terminate is requested at once); after the run ended it can only be told.
class RunThreads final : public ThreadPolicy {
public:
    explicit RunThreads(const std::shared_ptr<RunState> &run) : run_(run), key_name_(run->key_name) {}

    void thread_failed(GuardExit how, const Guard &g, const std::string &exception) override {
        const long tid = long(::syscall(SYS_gettid));
        std::string what;
        DWORD outcome = NM_OUTCOME_FAILED;
        if (how == GuardExit::Crashed) {
            what = crash_text(g.fault);
            outcome = NM_OUTCOME_CRASHED;
        } else if (how == GuardExit::Exited) {
            what = "called exit(" + std::to_string(g.exit_status) + ") at " + describe_code_address(g.fault.pc);
        } else {
            what = "threw " + exception + " out of its start routine";
        }
        const std::string detail = "thread " + std::to_string(tid) + " of the expert " + what;
        bool taken = false, request = false;
        std::shared_ptr<RunState> run = run_.lock();
        if (run) {
            std::lock_guard<std::mutex> lock(run->mu);
            if (!run->left_expert && !run->thread_failed) {
                taken = true;
                run->thread_failed = true;
                run->thread_outcome = outcome;
                run->thread_detail = detail;
                if (how == GuardExit::Crashed) {
                    run->thread_signal = g.fault.signal;
                    run->thread_fault_address = g.fault.address;
                    run->thread_frames.assign(g.fault.frames, g.fault.frames + g.fault.n_frames);
                }
                if (run->phase == Phase::Running) {
                    run->phase = Phase::TerminateRequested;
                    run->stop_reason = StopReason::ExpertThread;
                    run->terminate_at = Clock::now();
                    request = true;
                }
            } else if (!run->left_expert) {
                taken = true; // a later failure of the same run: the first one is its outcome
            }
        }
        if (request) {
            NmRequestExpertTerminate(run->key);
            wake_watchdog();
        }
        if (!taken)
            std::fprintf(stderr, "nmleak: %s after the run of '%s' ended; that thread was stopped, the host goes on\n",
                         nm::text::escape(detail).c_str(), nm::text::escape(key_name_).c_str());
    }

private:
    std::weak_ptr<RunState> run_;
    std::string key_name_;
};

std::string ended_text(const RunCall &c) {
    if (c.thread_exited) return std::string(c.threw_in) + " ended the run's thread (pthread_exit)";
    if (!c.bad_config.empty()) return c.bad_config;
    if (c.threw) return std::string(c.threw_in) + " threw " + c.exception;
    if (c.configure_failed) return "Configure returned FALSE";
    if (c.run->configure_only) return "Configure returned TRUE";
    return c.value ? "Run returned TRUE" : "Run returned FALSE";
}

// Decides the outcome, records it, closes the key and publishes the result. On the run's thread.
void finish(RunState &run, GuardExit how, const Guard &g, const RunCall &c) {
    Phase phase;
    std::string reason;
    uint32_t interrupts = 0, grace_over_ms = 0;
    auto now = Clock::now();
    {
        std::lock_guard<std::mutex> lock(run.mu);
        run.left_expert = true; // from here on the watchdog leaves the thread alone
        phase = run.phase;
        reason = stop_reason_text(run);
        interrupts = run.interrupts_sent;
        if (phase == Phase::Interrupting) grace_over_ms = ms_between(run.interrupt_since, now);
    }
    DWORD outcome;
    std::string detail;
    int signal = 0;
    uint64_t fault_address = 0;
    const uintptr_t *frames = nullptr;
    size_t n_frames = 0;
    bool thread_failed = false;
    {
        std::lock_guard<std::mutex> lock(run.mu);
        thread_failed = run.thread_failed; // final: left_expert is set
    }
    if (how == GuardExit::Crashed) {
        outcome = NM_OUTCOME_CRASHED;
        detail = crash_text(g.fault);
        signal = g.fault.signal;
        fault_address = g.fault.address;
        frames = g.fault.frames;
        n_frames = g.fault.n_frames;
        if (thread_failed) detail += " (after " + run.thread_detail + ")";
    } else if (thread_failed) {
        // A thread of the expert failed first: that is how the run ended, whatever Run did after.
        outcome = run.thread_outcome;
        detail = run.thread_detail + "; then " +
                 (how == GuardExit::Interrupted ? "Run was stopped by interrupt at " + describe_code_address(g.fault.pc)
                  : how == GuardExit::Exited    ? exit_text(c.threw_in, g)
                                                : ended_text(c));
        signal = run.thread_signal;
        fault_address = run.thread_fault_address;
        frames = run.thread_frames.data();
        n_frames = run.thread_frames.size();
    } else if (how == GuardExit::Exited) {
        outcome = NM_OUTCOME_FAILED;
        detail = exit_text(c.threw_in, g);
    } else if (how == GuardExit::Interrupted) {
        outcome = NM_OUTCOME_TIMEOUT;
        detail = reason + "; still running " + std::to_string(run.grace_ms) +
                 " ms after the terminate request; stopped by interrupt " + std::to_string(interrupts) +
                 " at " + describe_code_address(g.fault.pc);
    } else if (phase == Phase::Interrupting) {
        outcome = NM_OUTCOME_TIMEOUT;
        detail = reason + "; ended " + std::to_string(grace_over_ms) + " ms after the grace period of " +
                 std::to_string(run.grace_ms) + " ms (" + ended_text(c) + ")";
    } else if (phase == Phase::TerminateRequested) {
        outcome = NM_OUTCOME_TERMINATED;
        detail = reason + "; stopped after the terminate request (" + ended_text(c) + ")";
    } else if (c.returned && c.value) {
        outcome = NM_OUTCOME_DONE;
        detail = ended_text(c);
    } else {
        outcome = NM_OUTCOME_FAILED;
        detail = ended_text(c);
    }

    // Detail first: the close makes the key invalid.
    nm::record_outcome_detail(run.key, detail, signal, fault_address, frames, n_frames);
    NmSetExpertStartupInfo(run.key, nullptr);
    uint32_t frames_read = capture::detach(run.key);
    NMCLEANUPINFO cleanup{};
    NmCloseExpertKey(run.key, outcome, &cleanup);

    std::lock_guard<std::mutex> lock(run.mu);
    NMRUNRESULT &r = run.result;
    r.Outcome = outcome;
    r.KeyClosed = TRUE;
    r.RunReturned = c.returned ? TRUE : FALSE;
    r.RunValue = c.returned ? c.value : FALSE;
    r.Signal = signal;
    r.FaultAddress = fault_address;
    r.FaultPc = how == GuardExit::Crashed || how == GuardExit::Interrupted ? g.fault.pc
                : thread_failed && n_frames                                ? frames[0]
                                                                           : 0;
    r.FramesRead = frames_read;
    r.ElapsedMs = ms_between(run.started, Clock::now());
    r.Cleanup = cleanup;
    copy_text(r.szKeyName, sizeof r.szKeyName, run.key_name);
    copy_text(r.szDetail, sizeof r.szDetail, detail);
    run.phase = Phase::Finished;
    run.finished = true;
    if (run.orphaned) pthread_detach(pthread_self());
    run.cv.notify_all();
}

void *run_thread(void *arg) {
    std::shared_ptr<RunState> run = std::move(*static_cast<std::shared_ptr<RunState> *>(arg));
    delete static_cast<std::shared_ptr<RunState> *>(arg);
    unblock_guard_signals(); // the host may have blocked them in the thread that started us
    // Creates the tracker's per-thread state now, so the interrupt handler's thread_in_api() never
    // has to allocate it inside a signal handler.
    nm::thread_prepare();
    // Shared with the threads the expert starts. Taken now, in ordinary context: the handlers
    // only read it.
    auto threads = std::make_shared<RunThreads>(run);
    threads->expert_text = run->module->text;
    threads->other_text = text_ranges_except(reinterpret_cast<const void *>(run->module->run_fn));
    threads->run_key = run->key;
    Guard guard;
    guard.expert_text = threads->expert_text.data();
    guard.n_expert_text = threads->expert_text.size();
    guard.interrupt_wanted = &run->interrupt_wanted;
    guard.other_text = threads->other_text.data();
    guard.n_other_text = threads->other_text.size();
    guard.threads = threads;
    set_stack_bounds(guard);
    RunCall call;
    call.guard = &guard;
    call.run = run.get();
    GuardExit how;
    // Heap blocks this thread makes in the expert's code belong to the run's key (whole heap).
    nm::set_thread_run_key(run->key);
    try {
        AltStack alt; // before arming: a stack overflow needs it
        how = run_guarded(guard, call_expert, &call);
    } catch (abi::__forced_unwind &) {
        // The thread is ending under us: close the run now, then let the unwind finish the thread.
        nm::set_thread_run_key(nullptr);
        leave_guard(guard);
        finish(*run, GuardExit::Returned, guard, call);
        throw;
    }
    // The unwind skipped whatever libnmapi call the thread may have been in (a crash inside it);
    // the tracker must forget it before the key is closed.
    nm::set_thread_run_key(nullptr);
    if (how != GuardExit::Returned) nm::thread_recover_after_unwind();
    finish(*run, how, guard, call);
    return nullptr;
}

} // namespace
} // namespace nm::host

using namespace nm::host;

extern "C" DWORD WINAPI NmLoadExpert(const char *path, NMEXPERT **ppExpert, char *szError, SIZE_T cbError) {
    if (ppExpert) *ppExpert = nullptr;
    if (!path || !ppExpert) {
        copy_text(szError, cbError, "NmLoadExpert: path and ppExpert are required");
        return NMERR_INVALID_PARAMETER;
    }
    std::string error;
    auto module = load_expert(path, &error);
    if (!module) {
        copy_text(szError, cbError, error);
        return NMERR_LOAD_EXPERT_FAILED;
    }
    *ppExpert = new _NMEXPERT{std::move(module)};
    return NMERR_SUCCESS;
}

extern "C" const EXPERTENUMINFO *WINAPI NmExpertInfo(const NMEXPERT *pExpert) {
    return pExpert ? &pExpert->module->info : nullptr;
}

extern "C" void WINAPI NmFreeExpert(NMEXPERT *pExpert) { delete pExpert; }

namespace nm::host {
namespace {

// Opens a key, attaches the capture, registers the startup information and starts the run's
// thread. NMERR_SUCCESS and *out, or the error with szError filled.
DWORD start_run(NMEXPERT *pExpert, const NMRUNOPTIONS &opts, bool configure_only, std::shared_ptr<RunState> *out,
                char *szError, SIZE_T cbError) {
    auto run = std::make_shared<RunState>();
    run->module = pExpert->module;
    run->store = pExpert->config;
    run->configure_only = configure_only;
    run->key_name = opts.szKeyName ? opts.szKeyName
                                   : std::string(run->module->info.szName) + (configure_only ? " (configure)" : "");
    run->config = configure_only ? nullptr : opts.pConfig;
    if (configure_only && opts.pConfig) {
        DWORD len = opts.pConfig->RawConfigLength;
        if (len < sizeof(DWORD) || len > kMaxConfigBytes) {
            copy_text(szError, cbError, "pConfig: RawConfigLength " + std::to_string(len) + " is not a configuration's length");
            return NMERR_INVALID_PARAMETER;
        }
        const auto *b = reinterpret_cast<const unsigned char *>(opts.pConfig);
        run->config_copy.assign(b, b + len);
        run->has_config_copy = true;
    } else if (!run->config) {
        run->config_copy = run->store->get(&run->has_config_copy);
    }
    run->startup_flags = opts.StartupFlags;
    run->deadline_ms = opts.DeadlineMs;
    run->grace_ms = opts.GraceMs ? opts.GraceMs : NM_DEFAULT_GRACE_MS;
    run->startup.Flags = opts.StartupFlags;
    run->startup.dwFrameNumber = opts.FrameNumber;
    if (opts.szCaptureFile) {
        std::string path = opts.szCaptureFile, error;
        if (path.size() >= MAX_PATH) {
            copy_text(szError, cbError, "capture '" + path + "': path longer than MAX_PATH - 1");
            return NMERR_INVALID_PARAMETER;
        }
        run->capture = nm::capture::open_shared(path, &error);
        if (!run->capture) {
            copy_text(szError, cbError, error + " (expert '" + run->module->path + "' not run)");
            return NMERR_INVALID_PARAMETER;
        }
        copy_text(run->startup.szCaptureFile, MAX_PATH, path);
        run->startup.hCapture = const_cast<nm::capture::Capture *>(run->capture.get()); // opaque
    }
    run->key = NmOpenExpertKey(run->key_name.c_str());
    if (!run->key) {
        copy_text(szError, cbError, "no expert key available for '" + run->key_name + "'");
        return NMERR_OUT_OF_MEMORY;
    }
    if (run->capture) nm::capture::attach(run->key, run->capture);
    // The module whose heap blocks (under nmleak run) belong to this key: the expert's own.
    if (void *lm = nullptr; run->module->handle && dlinfo(run->module->handle, RTLD_DI_LINKMAP, &lm) == 0)
        nm::set_key_module(run->key, lm);
    NmSetExpertStartupInfo(run->key, &run->startup);
    install_guard_handlers();

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kRunStackBytes);
    auto *arg = new std::shared_ptr<RunState>(run);
    int rc;
    {
        // Under run->mu: the watchdog reads run->thread under it.
        std::lock_guard<std::mutex> lock(run->mu);
        run->started = Clock::now();
        rc = pthread_create(&run->thread, &attr, run_thread, arg);
    }
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        delete arg;
        std::string why = std::string("could not start the run's thread: ") + std::strerror(rc);
        NmSetExpertStartupInfo(run->key, nullptr);
        nm::capture::detach(run->key);
        nm::record_outcome_detail(run->key, why, 0, 0, nullptr, 0);
        NmCloseExpertKey(run->key, NM_OUTCOME_FAILED, nullptr);
        copy_text(szError, cbError, why);
        return NMERR_OUT_OF_MEMORY;
    }
    char name[16];
    std::snprintf(name, sizeof name, "nm:%.12s", run->key_name.c_str());
    pthread_setname_np(run->thread, name);
    watch(run);
    *out = std::move(run);
    return NMERR_SUCCESS;
}

} // namespace
} // namespace nm::host

extern "C" DWORD WINAPI NmStartExpert(NMEXPERT *pExpert, const NMRUNOPTIONS *pOptions, NMRUN **ppRun,
                                      char *szError, SIZE_T cbError) {
    if (ppRun) *ppRun = nullptr;
    if (!pExpert || !ppRun) {
        copy_text(szError, cbError, "NmStartExpert: pExpert and ppRun are required");
        return NMERR_INVALID_PARAMETER;
    }
    NMRUNOPTIONS opts{};
    if (pOptions) opts = *pOptions;
    std::shared_ptr<RunState> run;
    DWORD rc = start_run(pExpert, opts, false, &run, szError, cbError);
    if (rc == NMERR_SUCCESS) *ppRun = new _NMRUN{std::move(run)};
    return rc;
}

extern "C" DWORD WINAPI NmConfigureExpert(NMEXPERT *pExpert, const NMRUNOPTIONS *pOptions, char *szError,
                                          SIZE_T cbError) {
    if (!pExpert) {
        copy_text(szError, cbError, "NmConfigureExpert: pExpert is required");
        return NMERR_INVALID_PARAMETER;
    }
    if (!pExpert->module->configure_fn) {
        copy_text(szError, cbError, "expert '" + pExpert->module->path + "' exports no Configure");
        return NMERR_NOT_SUPPORTED;
    }
    NMRUNOPTIONS opts{};
    if (pOptions) opts = *pOptions;
    std::shared_ptr<RunState> run;
    DWORD rc = start_run(pExpert, opts, true, &run, szError, cbError);
    if (rc != NMERR_SUCCESS) return rc;
    auto *handle = new _NMRUN{std::move(run)};
    NMRUNRESULT r{};
    NmWaitExpert(handle, NM_WAIT_INFINITE, &r);
    NmFreeRun(handle);
    if (r.Outcome == NM_OUTCOME_DONE) return NMERR_SUCCESS;
    copy_text(szError, cbError, r.szDetail);
    return NMERR_INVALID_PARAMETER;
}

extern "C" SIZE_T WINAPI NmGetExpertConfig(const NMEXPERT *pExpert, PEXPERTCONFIG pBuffer, SIZE_T cbBuffer) {
    if (!pExpert) return 0;
    bool has = false;
    std::vector<unsigned char> bytes = pExpert->config->get(&has);
    if (!has) return 0;
    if (pBuffer && cbBuffer) std::memcpy(pBuffer, bytes.data(), std::min<size_t>(cbBuffer, bytes.size()));
    return bytes.size();
}

extern "C" DWORD WINAPI NmSetExpertConfig(NMEXPERT *pExpert, const EXPERTCONFIG *pConfig) {
    if (!pExpert) return NMERR_INVALID_PARAMETER;
    if (pConfig && (pConfig->RawConfigLength < sizeof(DWORD) || pConfig->RawConfigLength > kMaxConfigBytes))
        return NMERR_INVALID_PARAMETER;
    pExpert->config->set(reinterpret_cast<const unsigned char *>(pConfig), pConfig ? pConfig->RawConfigLength : 0);
    return NMERR_SUCCESS;
}

extern "C" HEXPERTKEY WINAPI NmRunKey(const NMRUN *pRun) { return pRun ? pRun->run->key : nullptr; }

extern "C" DWORD WINAPI NmTerminateRun(NMRUN *pRun) {
    if (!pRun) return NMERR_INVALID_PARAMETER;
    RunState &run = *pRun->run;
    {
        std::lock_guard<std::mutex> lock(run.mu);
        if (run.phase != Phase::Running) return NMERR_SUCCESS; // already stopping, or ended
        run.phase = Phase::TerminateRequested;
        run.stop_reason = StopReason::Host;
        run.terminate_at = Clock::now();
    }
    DWORD rc = NmRequestExpertTerminate(run.key);
    wake_watchdog(); // it times the grace period
    return rc;
}

extern "C" DWORD WINAPI NmWaitExpert(NMRUN *pRun, DWORD TimeoutMs, NMRUNRESULT *pResult) {
    if (!pRun) return NMERR_INVALID_PARAMETER;
    RunState &run = *pRun->run;
    std::unique_lock<std::mutex> lock(run.mu);
    auto ready = [&] { return run.finished || run.gave_up; };
    if (TimeoutMs == NM_WAIT_INFINITE) run.cv.wait(lock, ready);
    else if (!run.cv.wait_for(lock, std::chrono::milliseconds(TimeoutMs), ready)) return NMERR_TIMEOUT;
    if (pResult) {
        *pResult = run.result;
        if (!run.finished) copy_text(pResult->szKeyName, sizeof pResult->szKeyName, run.key_name);
    }
    return NMERR_SUCCESS;
}

extern "C" void WINAPI NmFreeRun(NMRUN *pRun) {
    if (!pRun) return;
    RunState &run = *pRun->run;
    bool join;
    {
        std::lock_guard<std::mutex> lock(run.mu);
        join = run.finished; // else the thread detaches itself when it ends
        run.orphaned = !join;
    }
    if (join) pthread_join(run.thread, nullptr);
    delete pRun;
}

extern "C" DWORD WINAPI NmRunExpert(const char *path, const NMRUNOPTIONS *pOptions, NMRUNRESULT *pResult) {
    NMRUNRESULT local{};
    NMRUNRESULT &r = pResult ? *pResult : local;
    r = NMRUNRESULT{};
    r.Outcome = NM_OUTCOME_FAILED;
    NMEXPERT *expert = nullptr;
    DWORD rc = NmLoadExpert(path, &expert, r.szDetail, sizeof r.szDetail);
    if (rc != NMERR_SUCCESS) return rc;
    copy_text(r.szKeyName, sizeof r.szKeyName,
              pOptions && pOptions->szKeyName ? pOptions->szKeyName : expert->module->info.szName);
    NMRUN *run = nullptr;
    rc = NmStartExpert(expert, pOptions, &run, r.szDetail, sizeof r.szDetail);
    if (rc == NMERR_SUCCESS) {
        NmWaitExpert(run, NM_WAIT_INFINITE, &r);
        NmFreeRun(run);
    }
    NmFreeExpert(expert);
    return rc;
}

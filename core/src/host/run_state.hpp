// run_state.hpp - one expert run, shared by its thread, its NMRUN handle and the watchdog.
#pragma once

#include <nmhost.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "capture/capture.hpp"
#include "host/expert_module.hpp"

namespace nm::host {

using Clock = std::chrono::steady_clock;

// Running -> TerminateRequested (deadline or host) -> Interrupting (grace over) -> Finished.
// A run that returns on its own goes straight to Finished from any phase.
enum class Phase { Running, TerminateRequested, Interrupting, Finished };
// ExpertThread: a thread the expert created crashed (or called exit()) while Run was running.
enum class StopReason { None, Deadline, Host, ExpertThread };

// The configuration an expert keeps between runs (host-owned bytes: RawConfigLength of them).
struct ConfigStore {
    std::mutex mu;
    bool kept = false;
    std::vector<unsigned char> bytes;

    std::vector<unsigned char> get(bool *has) {
        std::lock_guard<std::mutex> lock(mu);
        *has = kept;
        return bytes;
    }
    void set(const unsigned char *p, size_t n) {
        std::lock_guard<std::mutex> lock(mu);
        kept = p != nullptr;
        bytes.assign(p, p + (p ? n : 0));
    }
};

struct RunState {
    // Fixed at start.
    std::shared_ptr<const ExpertModule> module;
    std::shared_ptr<const capture::Capture> capture;
    HEXPERTKEY key = nullptr;
    std::string key_name;
    PEXPERTCONFIG config = nullptr; // the host's, when it gave one
    std::shared_ptr<ConfigStore> store; // the expert's kept configuration
    bool configure_only = false;        // NmConfigureExpert: Configure, no Run
    bool has_config_copy = false;       // config_copy holds the kept configuration for Run
    std::vector<unsigned char> config_copy;
    DWORD startup_flags = 0;
    EXPERTSTARTUPINFO startup{};
    Clock::time_point started;
    uint32_t deadline_ms = 0; // 0: none
    uint32_t grace_ms = NM_DEFAULT_GRACE_MS;

    // Read by the thread's interrupt handler: set once the grace period is over.
    std::atomic<int> interrupt_wanted{0};

    std::mutex mu; // everything below
    std::condition_variable cv; // finished or gave_up changed
    pthread_t thread{};
    Phase phase = Phase::Running;
    StopReason stop_reason = StopReason::None;
    Clock::time_point terminate_at, interrupt_since, next_kick;
    uint32_t interrupts_sent = 0;
    bool left_expert = false; // the thread is out of expert code: no more interrupts
    bool gave_up = false;     // no safe point found in time: waiters get the abandoned result
    bool finished = false;    // key closed, result final
    bool orphaned = false;    // the handle is gone: the thread detaches itself when it ends
    NMRUNRESULT result{};

    // The first failure of a thread the expert created, while the run was going: it becomes the
    // run's outcome (NM_OUTCOME_CRASHED for a crash, NM_OUTCOME_FAILED for exit() or a throw).
    bool thread_failed = false;
    DWORD thread_outcome = 0;
    std::string thread_detail; // "thread 1234 of the expert crashed: SIGSEGV ..."
    int thread_signal = 0;
    uint64_t thread_fault_address = 0;
    std::vector<uintptr_t> thread_frames;
};

// "deadline of 2000 ms passed" / "terminate requested by the host" (mu held).
std::string stop_reason_text(const RunState &run);

// The watchdog: one thread for all runs; it requests terminate at the deadline, starts
// interrupting after the grace period, and gives waiters an abandoned result when no safe point
// turns up. Runs are dropped from its list once finished.
void watch(std::shared_ptr<RunState> run);
void wake_watchdog();

} // namespace nm::host

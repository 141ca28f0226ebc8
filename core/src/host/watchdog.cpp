// watchdog.cpp - deadlines, grace periods and interrupts for every run, on one thread.
#include "host/run_state.hpp"

#include <nmleak/tracker.hpp>

#include <csignal>
#include <cstring>
#include <vector>

#include "host/guard.hpp"

namespace nm::host {
namespace {

// How often an overrunning thread is interrupted while no safe point is found, and how long the
// waiters wait for one before they get the abandoned result. Interrupting goes on after that (a
// thread stuck in a library call may come back to its own code), only less often.
constexpr auto kKickFast = std::chrono::milliseconds(2);
constexpr auto kKickSlow = std::chrono::milliseconds(100);
constexpr auto kFastPhase = std::chrono::milliseconds(1000);
constexpr auto kGiveUpAfter = std::chrono::milliseconds(2000);

struct Watchdog {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::shared_ptr<RunState>> runs;
    bool started = false;
    bool poked = false;
};

// Never destroyed: the thread outlives static destruction at exit.
Watchdog &dog() {
    static Watchdog *w = new Watchdog;
    return *w;
}

void copy_text(char *dst, size_t cap, const std::string &s) {
    size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
    std::memcpy(dst, s.data(), n);
    dst[n] = '\0';
}

// Advances one run; returns the time of its next event (max() when it has none), or min() when
// it is finished and can be dropped.
Clock::time_point step(RunState &run, Clock::time_point now) {
    bool request_terminate = false;
    Clock::time_point next = Clock::time_point::max();
    {
        std::lock_guard<std::mutex> lock(run.mu);
        if (run.finished) return Clock::time_point::min();
        if (run.phase == Phase::Running && run.deadline_ms &&
            now >= run.started + std::chrono::milliseconds(run.deadline_ms)) {
            run.phase = Phase::TerminateRequested;
            run.stop_reason = StopReason::Deadline;
            run.terminate_at = now;
            request_terminate = true;
        }
        if (run.phase == Phase::TerminateRequested &&
            now >= run.terminate_at + std::chrono::milliseconds(run.grace_ms)) {
            run.phase = Phase::Interrupting;
            run.interrupt_since = now;
            run.next_kick = now;
            run.interrupt_wanted.store(1, std::memory_order_relaxed);
        }
        if (run.phase == Phase::Interrupting && !run.left_expert) {
            if (now >= run.next_kick) {
                // Under run.mu: the thread sets left_expert under it too, and detaches itself
                // only after that, so the thread id is valid here.
                pthread_kill(run.thread, interrupt_signal());
                ++run.interrupts_sent;
                run.next_kick = now + (now - run.interrupt_since < kFastPhase ? kKickFast : kKickSlow);
            }
            if (!run.gave_up && now >= run.interrupt_since + kGiveUpAfter) {
                run.gave_up = true;
                NMRUNRESULT &r = run.result;
                r.Outcome = NM_OUTCOME_TIMEOUT;
                r.KeyClosed = FALSE;
                r.ElapsedMs = uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(now - run.started).count());
                r.FramesRead = capture::frames_read(run.key);
                std::string abandon_detail = stop_reason_text(run) + "; still running " + std::to_string(run.grace_ms) +
                                 " ms after the terminate request, and " + std::to_string(run.interrupts_sent) +
                                 " interrupts found it only outside its own code (in a library call): "
                                 "abandoned with its key open (interrupts go on)";
                copy_text(r.szDetail, sizeof r.szDetail, abandon_detail);
                // The key stays open, so the GUI and reports show why it is stuck. Recorded before
                // the waiters wake (they may take a snapshot at once) and under run.mu, so the
                // thread's own detail, recorded after it sets left_expert, always comes later.
                nm::record_outcome_detail(run.key, abandon_detail, 0, 0, nullptr, 0);
                run.cv.notify_all();
            }
            next = run.next_kick;
        } else if (run.phase == Phase::TerminateRequested) {
            next = run.terminate_at + std::chrono::milliseconds(run.grace_ms);
        } else if (run.phase == Phase::Running && run.deadline_ms) {
            next = run.started + std::chrono::milliseconds(run.deadline_ms);
        }
    }
    if (request_terminate) NmRequestExpertTerminate(run.key);
    return next;
}

void *watchdog_main(void *) {
    mark_nmleak_thread(); // nmleak's own thread: held by the reachability pass, never a root
    Watchdog &w = dog();
    std::unique_lock<std::mutex> lock(w.mu);
    for (;;) {
        std::vector<std::shared_ptr<RunState>> runs = w.runs;
        lock.unlock();
        auto now = Clock::now();
        auto wake_at = Clock::time_point::max();
        std::vector<RunState *> done;
        for (auto &run : runs) {
            auto next = step(*run, now);
            if (next == Clock::time_point::min()) done.push_back(run.get());
            else if (next < wake_at) wake_at = next;
        }
        runs.clear(); // drop our references before taking the lock again
        lock.lock();
        std::erase_if(w.runs, [&](const std::shared_ptr<RunState> &r) {
            for (RunState *d : done)
                if (r.get() == d) return true;
            return false;
        });
        if (w.poked) {
            w.poked = false;
            continue;
        }
        if (wake_at == Clock::time_point::max()) w.cv.wait(lock, [&] { return w.poked; });
        else w.cv.wait_until(lock, wake_at, [&] { return w.poked; });
        w.poked = false;
    }
    return nullptr;
}

} // namespace

std::string stop_reason_text(const RunState &run) {
    if (run.stop_reason == StopReason::Host) return "terminate requested by the host";
    if (run.stop_reason == StopReason::ExpertThread) return run.thread_detail;
    return "deadline of " + std::to_string(run.deadline_ms) + " ms passed";
}

void wake_watchdog() {
    Watchdog &w = dog();
    std::lock_guard<std::mutex> lock(w.mu);
    w.poked = true;
    w.cv.notify_one();
}

void watch(std::shared_ptr<RunState> run) {
    Watchdog &w = dog();
    std::lock_guard<std::mutex> lock(w.mu);
    w.runs.push_back(std::move(run));
    w.poked = true;
    if (!w.started) {
        // Detached and never stopped; all signals blocked so that no handler ever runs on it.
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, watchdog_main, nullptr) == 0) {
            pthread_setname_np(t, "nm-watchdog");
            w.started = true;
        }
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    w.cv.notify_one();
}

} // namespace nm::host

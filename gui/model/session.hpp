// session.hpp - what nmleak-gui is looking at: one source (a snapshot file or a live process), its
// reader and builder threads, the background jobs (save, export, compare, attach) and the status line.
//
// Threads: the UI thread calls everything here and never blocks on I/O. A source thread reads a
// file or a live connection; a builder thread turns snapshots into ModelData (coalescing: when
// updates come faster than builds, only the newest is built); a job thread runs saves, exports,
// compares and injections one at a time. Results reach the UI through current(), diff() and
// status(), each a short critical section.
#pragma once

#include "model_data.hpp"

#include <nmleak/report_diff.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nm::gui {

enum class Level : uint8_t { Info, Ok, Warning, Error };

struct StatusLine {
    std::string connection; // what is open: "pid 4242 analyzer ... (live)", "snapshot /tmp/a.nmsnap"
    bool live = false;      // a live connection is up
    bool busy = false;      // something is in progress; busy_text says what
    std::string busy_text;
    Level level = Level::Info;
    std::string message; // the last thing that happened or went wrong
    double message_ms = 0; // now_ms() when it was set
};

// Two snapshots compared (report_diff.hpp). The diff points into the snapshots held here.
struct DiffData {
    std::shared_ptr<const model::Snapshot> before, after;
    std::string before_label, after_label;
    report::SnapshotDiff diff;
};

class Session {
public:
    Session();
    ~Session();
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    // Called (from any thread) whenever something new is published: the UI wakes its event loop.
    void set_wake(std::function<void()> wake);

    // Sources. Each replaces the previous one; all return at once.
    void open_file(const std::string &path);
    void connect(int pid);
    void attach(int pid); // inject the agent with `nmleak attach`, then connect
    void close();         // disconnect (the agent keeps running) / forget the file
    // An already decoded snapshot (tests, the screenshot tool).
    void open_snapshot(std::shared_ptr<const model::Snapshot> snap, const std::string &label);

    // Live commands (a no-op with a status message when not live).
    void request_snapshot();
    void request_terminate(uint64_t expert_id, const std::string &name);
    void stop_agent(); // the agent in the target stops serving (nmleak detach); the session ends

    // Jobs on the current model's snapshot.
    void save_snapshot(const std::string &path);
    void export_report(const std::string &path, const std::string &format);
    // Compares the snapshot file `before` with `after` (a file, or the current snapshot when empty).
    void compare(const std::string &before, const std::string &after);
    void clear_diff();

    std::shared_ptr<const ModelData> current() const;
    std::shared_ptr<const DiffData> diff() const;
    StatusLine status() const;
    void set_message(Level level, const std::string &text);

    // Waits until no source read, build or job is pending (tests, screenshots). False on timeout.
    bool wait_idle(int timeout_ms) const;
    bool is_live() const;

private:
    struct SourceWorker;
    struct Command {
        enum Kind { Snapshot, Terminate, Detach } kind;
        uint64_t expert_id = 0;
        std::string name;
    };

    void start_source(std::function<void(SourceWorker &)> body, const std::string &busy_text);
    void run_live(SourceWorker &w, int pid, bool inject);
    void submit(uint64_t session, std::shared_ptr<const model::Snapshot> snap, SourceInfo source, double load_ms);
    void builder_loop();
    void post_job(const std::string &busy_text, std::function<void()> job);
    void job_loop();
    void publish_status();
    void set_busy(bool busy, const std::string &text);
    void reap_workers();

    mutable std::mutex mu_;
    mutable std::condition_variable idle_cv_;
    std::function<void()> wake_;
    StatusLine status_;
    std::shared_ptr<const ModelData> current_;
    std::shared_ptr<const DiffData> diff_;

    // Source.
    uint64_t session_ = 0; // bumps with every new source; stale workers and builds check it
    std::vector<std::unique_ptr<SourceWorker>> workers_;
    std::deque<Command> commands_;
    bool live_ = false;
    int sources_busy_ = 0;

    // Builder.
    struct Pending {
        uint64_t session = 0;
        std::shared_ptr<const model::Snapshot> snap;
        SourceInfo source;
        double load_ms = 0;
    };
    std::condition_variable build_cv_;
    bool has_pending_ = false, building_ = false;
    Pending pending_;
    ModelBuilder builder_; // builder thread only
    uint64_t builder_session_ = 0;

    // Jobs.
    std::condition_variable job_cv_;
    std::deque<std::pair<std::string, std::function<void()>>> jobs_;
    bool job_running_ = false;

    bool stop_ = false;
    std::thread build_thread_;
    std::thread job_thread_;
};

} // namespace nm::gui

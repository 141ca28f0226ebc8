// session.cpp - the session's source, builder and job threads and its status line (session.hpp), and the
// ModelBuilder its builder thread runs (model_data.hpp).
#include "session.hpp"

#include "format.hpp"
#include "live_link.hpp"

#include <nmleak/report.hpp>
#include <nmleak/snapshot_io.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

namespace nm::gui {

// ---- the model builder ----

std::string SourceInfo::label() const {
    switch (kind) {
    case SourceKind::None: return "nothing open";
    case SourceKind::File: return "snapshot " + path;
    case SourceKind::Live: return "pid " + std::to_string(pid);
    }
    return {};
}

double now_ms() {
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

std::shared_ptr<const ModelData> empty_model() {
    static const std::shared_ptr<const ModelData> empty = [] {
        auto m = std::make_shared<ModelData>();
        auto snap = std::make_shared<model::Snapshot>();
        snap->stacks.emplace_back(); // stack 0 is always the empty stack
        m->snap = snap;
        m->agg = build_aggregate(*snap);
        m->trees = build_call_trees(*snap, m->agg);
        return std::shared_ptr<const ModelData>(m);
    }();
    return empty;
}

std::shared_ptr<const ModelData> ModelBuilder::build(std::shared_ptr<const model::Snapshot> snap,
                                                     const SourceInfo &source, double load_ms) {
    const double t0 = now_ms();
    auto m = std::make_shared<ModelData>();
    static std::atomic<uint64_t> serials{1};
    m->generation = ++generation_;
    m->serial = ++serials;
    m->source = source;
    m->snap = std::move(snap);
    // Same blocks as the previous model: a live update after the same full snapshot, with the
    // same keys holding the same number of blocks (a key that closed loses its list).
    uint64_t fingerprint = 1469598103934665603ull ^ source.blocks_ms;
    for (const model::Expert &e : m->snap->experts) fingerprint = (fingerprint ^ e.blocks.size()) * 1099511628211ull;
    const bool same_blocks = source.kind == SourceKind::Live && generation_ > 1 && fingerprint == blocks_fingerprint_;
    m->blocks_serial = same_blocks ? blocks_serial_ : m->serial;
    blocks_fingerprint_ = fingerprint;
    blocks_serial_ = m->blocks_serial;
    m->agg = build_aggregate(*m->snap);
    m->trees = build_call_trees(*m->snap, m->agg);
    history_.add(*m->snap);
    m->timeline = history_.timeline();
    m->load_ms = load_ms;
    m->build_ms = now_ms() - t0;
    return m;
}

void ModelBuilder::reset() {
    history_.clear();
    generation_ = 0;
    blocks_fingerprint_ = blocks_serial_ = 0;
}

// ---- the session ----

struct Session::SourceWorker {
    uint64_t session = 0;
    std::thread thread;
    std::atomic<bool> done{false};
};

namespace {

std::string count_text(uint64_t n, const char *what) {
    return fmt::count(n) + " " + what + (n == 1 ? "" : "s");
}

// Alive: signalable and not a zombie waiting for its parent.
bool process_alive(int pid) {
    if (kill(pid, 0) != 0 && errno != EPERM) return false;
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(in, stat);
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) return in.is_open();
    const char state = stat[paren + 2];
    return state != 'Z' && state != 'X';
}

// The last state of a process that is gone. Updates carry per-key figures, full snapshots the
// blocks, so an open key's figures may be newer than its block list; with no newer snapshot to
// come, the figures of open keys are those of their blocks, so every view shows the same totals.
// (Closed keys have final figures and no blocks already.)
void settle_ended(model::Snapshot *s) {
    for (model::Expert &e : s->experts) {
        if (e.state == model::ExpertState::Closed) continue;
        uint64_t bytes = 0;
        for (const model::Block &b : e.blocks) bytes += b.size;
        e.live_blocks = e.blocks.size();
        e.live_bytes = bytes;
    }
}

// An agent says goodbye as its process exits: give the process a moment to finish dying before
// deciding which of the two happened.
bool process_gone_soon(int pid, int wait_ms) {
    for (int waited = 0; waited <= wait_ms; waited += 20) {
        if (!process_alive(pid)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

} // namespace

Session::Session() {
    current_ = empty_model();
    status_.connection = "nothing open";
    build_thread_ = std::thread([this] { builder_loop(); });
    job_thread_ = std::thread([this] { job_loop(); });
}

Session::~Session() {
    std::vector<std::unique_ptr<SourceWorker>> workers;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        ++session_; // every source worker is stale now and returns within its receive timeout
        workers.swap(workers_);
    }
    build_cv_.notify_all();
    job_cv_.notify_all();
    for (auto &w : workers) w->thread.join();
    build_thread_.join();
    job_thread_.join();
}

void Session::set_wake(std::function<void()> wake) {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = std::move(wake);
}

std::shared_ptr<const ModelData> Session::current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
}

std::shared_ptr<const DiffData> Session::diff() const {
    std::lock_guard<std::mutex> lock(mu_);
    return diff_;
}

StatusLine Session::status() const {
    std::lock_guard<std::mutex> lock(mu_);
    StatusLine s = status_;
    s.live = live_;
    if (building_ || has_pending_) {
        s.busy = true;
        if (s.busy_text.empty()) s.busy_text = "Building the views";
    }
    if (job_running_ || !jobs_.empty()) s.busy = true;
    return s;
}

bool Session::is_live() const {
    std::lock_guard<std::mutex> lock(mu_);
    return live_;
}

void Session::set_message(Level level, const std::string &text) {
    std::function<void()> wake;
    {
        std::lock_guard<std::mutex> lock(mu_);
        status_.level = level;
        status_.message = text;
        status_.message_ms = now_ms();
        wake = wake_;
    }
    if (wake) wake();
}

void Session::set_busy(bool busy, const std::string &text) {
    std::lock_guard<std::mutex> lock(mu_);
    status_.busy = busy;
    status_.busy_text = busy ? text : std::string();
    idle_cv_.notify_all();
}

bool Session::wait_idle(int timeout_ms) const {
    std::unique_lock<std::mutex> lock(mu_);
    return idle_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] {
        return !status_.busy && !has_pending_ && !building_ && jobs_.empty() && !job_running_;
    });
}

void Session::reap_workers() {
    // Joining a worker that has set `done` waits only for its last few instructions.
    for (auto it = workers_.begin(); it != workers_.end();) {
        if ((*it)->done) {
            (*it)->thread.join();
            it = workers_.erase(it);
        } else {
            ++it;
        }
    }
}

void Session::start_source(std::function<void(SourceWorker &)> body, const std::string &busy_text) {
    std::lock_guard<std::mutex> lock(mu_);
    reap_workers();
    ++session_;
    commands_.clear();
    live_ = false;
    current_ = empty_model();
    status_.busy = true;
    status_.busy_text = busy_text;
    auto w = std::make_unique<SourceWorker>();
    w->session = session_;
    SourceWorker *wp = w.get();
    w->thread = std::thread([this, wp, body = std::move(body)] {
        body(*wp);
        std::function<void()> wake;
        {
            std::lock_guard<std::mutex> l(mu_);
            if (wp->session == session_) {
                status_.busy = false;
                status_.busy_text.clear();
                live_ = false;
            }
            wp->done = true;
            wake = wake_;
        }
        idle_cv_.notify_all();
        if (wake) wake();
    });
    workers_.push_back(std::move(w));
}

void Session::open_file(const std::string &path) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        status_.connection = "snapshot " + path;
    }
    start_source([this, path](SourceWorker &w) {
        const double t0 = now_ms();
        auto snap = std::make_shared<model::Snapshot>();
        std::string error;
        if (!snapshot_io::read_file(path, snap.get(), &error)) {
            set_message(Level::Error, "Could not open " + path + ": " + error);
            std::lock_guard<std::mutex> lock(mu_);
            if (w.session == session_) status_.connection = "nothing open";
            return;
        }
        SourceInfo src;
        src.kind = SourceKind::File;
        src.path = path;
        src.pid = snap->process.pid;
        submit(w.session, std::move(snap), src, now_ms() - t0);
    }, "Loading " + path);
}

void Session::open_snapshot(std::shared_ptr<const model::Snapshot> snap, const std::string &label) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        status_.connection = label;
    }
    start_source([this, snap, label](SourceWorker &w) {
        SourceInfo src;
        src.kind = SourceKind::File;
        src.path = label;
        src.pid = snap->process.pid;
        submit(w.session, snap, src, 0);
    }, "Loading " + label);
}

void Session::connect(int pid) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        status_.connection = "pid " + std::to_string(pid) + " (connecting)";
    }
    start_source([this, pid](SourceWorker &w) { run_live(w, pid, false); },
                 "Connecting to pid " + std::to_string(pid));
}

void Session::attach(int pid) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        status_.connection = "pid " + std::to_string(pid) + " (attaching)";
    }
    start_source([this, pid](SourceWorker &w) { run_live(w, pid, true); },
                 "Injecting the agent into pid " + std::to_string(pid));
}

void Session::close() {
    std::lock_guard<std::mutex> lock(mu_);
    ++session_; // the live worker sees it is stale, closes its connection and returns
    live_ = false;
    current_ = empty_model();
    status_ = StatusLine{};
    status_.connection = "nothing open";
    status_.message = "Closed";
    status_.message_ms = now_ms();
}

void Session::run_live(SourceWorker &w, int pid, bool inject) {
    auto stale = [&] {
        std::lock_guard<std::mutex> lock(mu_);
        return w.session != session_;
    };
    const std::string who = "pid " + std::to_string(pid);
    std::string error;
    if (inject && !inject_agent(pid, 20000, &error)) {
        set_message(Level::Error, "Could not attach to " + who + ": " + error);
        std::lock_guard<std::mutex> lock(mu_);
        if (w.session == session_) status_.connection = "nothing open";
        return;
    }
    std::unique_ptr<LiveLink> link = make_live_link();
    if (!link->connect(pid, &error)) {
        set_message(Level::Error, "Could not connect to " + who + ": " + error);
        std::lock_guard<std::mutex> lock(mu_);
        if (w.session == session_) status_.connection = "nothing open";
        return;
    }
    const std::string label = who + (link->peer_command().empty() ? "" : "  " + link->peer_command());
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (w.session != session_) return;
        live_ = true;
        status_.connection = label;
        status_.busy_text = "Waiting for the first snapshot of " + who;
    }
    set_message(Level::Ok, "Connected to " + who);

    SourceInfo src;
    src.kind = SourceKind::Live;
    src.pid = pid;
    src.path = label;
    bool first = true, dirty = false;
    double last_submit = 0, last_full = now_ms();
    while (!stale()) {
        std::deque<Command> cmds;
        {
            std::lock_guard<std::mutex> lock(mu_);
            cmds.swap(commands_);
        }
        for (const Command &c : cmds) {
            bool sent = true;
            if (c.kind == Command::Snapshot) {
                sent = link->request_snapshot(&error);
                last_full = now_ms();
            } else if (c.kind == Command::Terminate) {
                sent = link->request_terminate(c.expert_id, c.name, &error);
            } else if (c.kind == Command::Detach) {
                sent = link->request_detach(&error);
            }
            if (!sent) set_message(Level::Error, "Could not send the command to " + who + ": " + error);
        }

        std::string text;
        bool ok = false;
        const LiveLink::Event ev = link->poll(50, &text, &ok);
        if (ev == LiveLink::Event::Changed) {
            dirty = true;
        } else if (ev == LiveLink::Event::Note) {
            set_message(ok ? Level::Ok : Level::Error, text);
        } else if (ev == LiveLink::Event::Closed || ev == LiveLink::Event::Error) {
            if (stale()) break;
            // Keep what arrived last: the views go on showing it. A process that is gone gets
            // its final model: open keys marked as of unknown fate, one consistent set of figures.
            const bool gone = process_gone_soon(pid, 1000);
            if (dirty || gone) {
                auto snap = std::make_shared<model::Snapshot>();
                link->copy_state(snap.get());
                src.blocks_ms = link->blocks_ms();
                if (gone) {
                    src.ended = true;
                    settle_ended(snap.get());
                }
                submit(w.session, std::move(snap), src, 0);
            }
            std::string why;
            if (gone)
                why = who + " exited; showing its last snapshot" +
                      (src.blocks_ms ? " (live blocks as of " + fmt::at_ms(src.blocks_ms) + ")" : std::string());
            else if (ev == LiveLink::Event::Closed)
                why = (text.empty() ? "The agent of " + who + " closed the connection" : who + ": " + text) +
                      "; showing the last snapshot";
            else
                why = "Lost " + who + ": " + text;
            set_message(Level::Error, why);
            std::lock_guard<std::mutex> lock(mu_);
            if (w.session == session_) {
                live_ = false;
                status_.connection = label + "  (disconnected)";
            }
            return;
        }

        // Hand the builder the newest state when it is free, at most every few hundred ms (a
        // build of a million blocks takes a while; updates in between are merged, not queued).
        const double now = now_ms();
        std::shared_ptr<const ModelData> cur = current();
        const double build_ms = cur->source.kind == SourceKind::Live ? cur->build_ms : 0;
        bool builder_free;
        {
            std::lock_guard<std::mutex> lock(mu_);
            builder_free = !has_pending_ && !building_;
        }
        if (dirty && builder_free && now - last_submit >= std::max(200.0, 2 * build_ms)) {
            auto snap = std::make_shared<model::Snapshot>();
            link->copy_state(snap.get());
            src.blocks_ms = link->blocks_ms();
            submit(w.session, std::move(snap), src, 0);
            dirty = false;
            last_submit = now;
            if (first) {
                first = false;
                std::lock_guard<std::mutex> lock(mu_);
                if (w.session == session_) {
                    status_.busy = false;
                    status_.busy_text.clear();
                }
            }
        }
        // Updates carry per-key figures only; live blocks come with full snapshots, so ask for one
        // now and then (less often when the model is big).
        if (now - last_full >= std::max(2000.0, 20 * build_ms)) {
            if (!link->request_snapshot(&error)) set_message(Level::Error, "Snapshot request failed: " + error);
            last_full = now;
        }
    }
    link->close(); // the session moved on: the agent keeps running for other clients
}

void Session::request_snapshot() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (live_) {
            commands_.push_back({Command::Snapshot, 0, {}});
            return;
        }
    }
    set_message(Level::Warning, "Snapshot now needs a live process (File > Attach)");
}

void Session::stop_agent() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (live_) {
            commands_.push_back({Command::Detach, 0, {}});
            return;
        }
    }
    set_message(Level::Warning, "Stopping the agent needs a live connection");
}

void Session::request_terminate(uint64_t expert_id, const std::string &name) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (live_) {
            commands_.push_back({Command::Terminate, expert_id, name});
            return;
        }
    }
    set_message(Level::Warning, "Terminate needs a live process; this is a saved snapshot");
}

void Session::submit(uint64_t session, std::shared_ptr<const model::Snapshot> snap, SourceInfo source, double load_ms) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (session != session_) return;
        pending_ = Pending{session, std::move(snap), std::move(source), load_ms};
        has_pending_ = true; // replaces an older pending snapshot: only the newest is worth building
    }
    build_cv_.notify_all();
}

void Session::builder_loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        build_cv_.wait(lock, [this] { return stop_ || has_pending_; });
        if (stop_) return;
        Pending p = std::move(pending_);
        has_pending_ = false;
        building_ = true;
        const bool reset = p.session != builder_session_;
        builder_session_ = p.session;
        lock.unlock();

        if (reset) builder_.reset();
        std::shared_ptr<const ModelData> m = builder_.build(p.snap, p.source, p.load_ms);

        lock.lock();
        building_ = false;
        if (p.session == session_) {
            current_ = m;
            if (m->generation == 1) {
                const model::Snapshot &s = *m->snap;
                uint64_t blocks = 0;
                for (const auto &e : s.experts) blocks += e.live_blocks;
                char timing[96];
                std::snprintf(timing, sizeof timing, " (read %.0f ms, views %.0f ms)", m->load_ms, m->build_ms);
                status_.level = Level::Ok;
                status_.message = (p.source.kind == SourceKind::Live ? "Attached: " : "Opened: ") +
                                  count_text(s.experts.size(), "key") + ", " +
                                  count_text(blocks, "live block") + ", " +
                                  count_text(m->agg.stacks_used, "stack") + timing;
                status_.message_ms = now_ms();
            }
        }
        std::function<void()> wake = wake_;
        idle_cv_.notify_all();
        lock.unlock();
        if (wake) wake();
        lock.lock();
    }
}

// ---- jobs ----
void Session::post_job(const std::string &busy_text, std::function<void()> job) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        jobs_.emplace_back(busy_text, std::move(job));
    }
    job_cv_.notify_all();
}

void Session::job_loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        job_cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (stop_) return;
        auto [text, job] = std::move(jobs_.front());
        jobs_.pop_front();
        job_running_ = true;
        const std::string saved_busy = status_.busy_text;
        if (!status_.busy) status_.busy_text = text;
        lock.unlock();
        job();
        lock.lock();
        job_running_ = false;
        if (!status_.busy && status_.busy_text == text) status_.busy_text = saved_busy;
        idle_cv_.notify_all();
        std::function<void()> wake = wake_;
        lock.unlock();
        if (wake) wake();
        lock.lock();
    }
}

void Session::save_snapshot(const std::string &path) {
    std::shared_ptr<const ModelData> m = current();
    if (m->source.kind == SourceKind::None) {
        set_message(Level::Warning, "Nothing to save: open a snapshot or attach to a process first");
        return;
    }
    std::shared_ptr<const model::Snapshot> snap = m->snap;
    post_job("Saving " + path, [this, snap, path] {
        std::string error;
        if (snapshot_io::write_file(*snap, path, &error))
            set_message(Level::Ok, "Saved the snapshot to " + path);
        else
            set_message(Level::Error, "Could not save " + path + ": " + error);
    });
}

void Session::export_report(const std::string &path, const std::string &format) {
    std::shared_ptr<const ModelData> m = current();
    if (m->source.kind == SourceKind::None) {
        set_message(Level::Warning, "Nothing to export: open a snapshot or attach to a process first");
        return;
    }
    std::shared_ptr<const model::Snapshot> snap = m->snap;
    post_job("Exporting " + path, [this, snap, path, format] {
        std::string error;
        if (report::write_file(*snap, path, format, &error))
            set_message(Level::Ok, "Exported " + (format.empty() ? std::string("the report") : format) + " to " + path);
        else
            set_message(Level::Error, "Could not export " + path + ": " + error);
    });
}

void Session::compare(const std::string &before, const std::string &after) {
    std::shared_ptr<const ModelData> m = current();
    if (after.empty() && m->source.kind == SourceKind::None) {
        set_message(Level::Warning, "Compare: open the newer snapshot first, or give both files");
        return;
    }
    std::shared_ptr<const model::Snapshot> current_snap = m->snap;
    const std::string current_label = m->source.label();
    post_job("Comparing " + before, [this, before, after, current_snap, current_label] {
        auto data = std::make_shared<DiffData>();
        std::string error;
        auto b = std::make_shared<model::Snapshot>();
        if (!snapshot_io::read_file(before, b.get(), &error)) {
            set_message(Level::Error, "Compare: could not read " + before + ": " + error);
            return;
        }
        data->before = b;
        data->before_label = before;
        if (after.empty()) {
            data->after = current_snap;
            data->after_label = current_label;
        } else {
            auto a = std::make_shared<model::Snapshot>();
            if (!snapshot_io::read_file(after, a.get(), &error)) {
                set_message(Level::Error, "Compare: could not read " + after + ": " + error);
                return;
            }
            data->after = a;
            data->after_label = after;
        }
        data->diff = report::diff(*data->before, *data->after);
        const int64_t delta = data->diff.delta_bytes;
        {
            std::lock_guard<std::mutex> lock(mu_);
            diff_ = data;
        }
        set_message(Level::Ok, "Compared " + std::filesystem::path(before).filename().string() + " -> " +
                                   std::filesystem::path(data->after_label).filename().string() + ": " +
                                   std::to_string(data->diff.stacks.size()) + " stacks changed, " +
                                   (delta >= 0 ? "+" : "") + std::to_string(delta) + " bytes retained");
    });
}

void Session::clear_diff() {
    std::lock_guard<std::mutex> lock(mu_);
    diff_.reset();
}

} // namespace nm::gui

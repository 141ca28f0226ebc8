// session_jobs.cpp - the session's background jobs: save a snapshot, export a report, compare two snapshots.
#include "session.hpp"

#include <nmleak/report.hpp>
#include <nmleak/snapshot_io.hpp>

#include <filesystem>

namespace nm::gui {

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

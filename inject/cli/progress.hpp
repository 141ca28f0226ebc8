// progress.hpp - one self-updating status line on a terminal for long work (reading, symbolizing,
// writing a big snapshot or report, a long diff).
//
// Drawn on stderr only when stderr is a terminal and -q was not given, and only once the work has
// taken longer than NMLEAK_PROGRESS_AFTER_MS (default 500 ms): short commands print nothing
// extra, and logs and pipes never see carriage returns. A ticker thread redraws the line, so a
// stage that blocks (a read, waiting for an agent) still shows its elapsed time.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace nm::cli {

class Progress {
public:
    explicit Progress(bool quiet);
    ~Progress();
    Progress(const Progress &) = delete;
    Progress &operator=(const Progress &) = delete;

    bool enabled() const { return enabled_; }
    // A stage without known size: the line shows its name and elapsed time.
    void stage(std::string_view what);
    // A stage of `total` items, `done` of them done.
    void update(std::string_view what, uint64_t done, uint64_t total);
    // Erases the line; later stages draw it again.
    void clear();
    // For report::Options::progress and the diff: forwards to update().
    std::function<void(std::string_view, uint64_t, uint64_t)> callback();

private:
    void run();
    void draw_locked();

    bool enabled_ = false;
    std::mutex mu_;
    std::condition_variable cv_;
    std::thread ticker_;
    bool stop_ = false, drawn_ = false;
    std::string what_;
    uint64_t done_ = 0, total_ = 0;
    double started_ = 0, stage_started_ = 0, last_draw_ = 0, after_s_ = 0.5;
};

} // namespace nm::cli

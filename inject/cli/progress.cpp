// progress.cpp - one self-updating status line on a terminal for long work.
#include "progress.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace nm::cli {
namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace

Progress::Progress(bool quiet) {
    enabled_ = !quiet && ::isatty(STDERR_FILENO);
    if (!enabled_) return;
    if (const char *v = std::getenv("NMLEAK_PROGRESS_AFTER_MS"); v && *v) after_s_ = std::atof(v) / 1000.0;
    started_ = stage_started_ = now_s();
    ticker_ = std::thread([this] { run(); });
}

Progress::~Progress() {
    if (!enabled_) return;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    ticker_.join();
    clear();
}

void Progress::stage(std::string_view what) { update(what, 0, 0); }

void Progress::update(std::string_view what, uint64_t done, uint64_t total) {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mu_);
    const bool fresh = what != what_;
    if (fresh) {
        what_ = std::string(what);
        stage_started_ = now_s();
    }
    done_ = done;
    total_ = total;
    // A new stage and its end show at once; updates in between at most every 100 ms.
    if (fresh || done == total || now_s() - last_draw_ >= 0.1) draw_locked();
}

void Progress::clear() {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (drawn_) {
        std::fputs("\r\033[K", stderr);
        std::fflush(stderr);
        drawn_ = false;
    }
    what_.clear();
}

std::function<void(std::string_view, uint64_t, uint64_t)> Progress::callback() {
    if (!enabled_) return {};
    return [this](std::string_view what, uint64_t done, uint64_t total) { update(what, done, total); };
}

void Progress::draw_locked() {
    if (what_.empty()) return;
    const double t = now_s();
    if (t - started_ < after_s_) return;
    char line[256];
    if (total_ > 0)
        std::snprintf(line, sizeof line, "\r\033[Knmleak: %s %3.0f%% (%llu/%llu), %.1f s", what_.c_str(),
                      100.0 * static_cast<double>(done_) / static_cast<double>(total_),
                      static_cast<unsigned long long>(done_), static_cast<unsigned long long>(total_),
                      t - stage_started_);
    else
        std::snprintf(line, sizeof line, "\r\033[Knmleak: %s... %.1f s", what_.c_str(), t - stage_started_);
    std::fputs(line, stderr);
    std::fflush(stderr);
    drawn_ = true;
    last_draw_ = t;
}

void Progress::run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
        draw_locked();
        cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; });
    }
}

} // namespace nm::cli

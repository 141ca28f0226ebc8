// exit_report.cpp - NmWriteReport and the report at process exit (NMLEAK_REPORT,
// NMLEAK_FAIL_ON_LEAK decides the exit status).
#include "report/exit_report.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

#include "nmhost.h"
#include "nmleak/capture.hpp"
#include "nmleak/report.hpp"
#include "nmleak/text.hpp"

extern "C" __attribute__((visibility("default"))) DWORD WINAPI NmWriteReport(const char *path, const char *format) {
    if (!path || !*path) return NMERR_INVALID_PARAMETER;
    const nm::ReachEntry entry;
    std::string error;
    nm::model::Snapshot snap = nm::capture_snapshot(true);
    if (!nm::report::write_file(snap, path, format ? format : "", &error)) {
        std::fprintf(stderr, "nmleak: cannot write report %s: %s\n", nm::text::escape(path).c_str(),
                     nm::text::escape(error).c_str());
        return NMERR_INVALID_PARAMETER;
    }
    return NMERR_SUCCESS;
}

namespace nm::report {
namespace {

std::atomic<bool> g_done{false};

// NMLEAK_REPORT=FILE [NMLEAK_REPORT_FORMAT=fmt] [NMLEAK_SUPPRESSIONS=FILE] [NMLEAK_FAIL_ON_LEAK=1]
// [NMLEAK_LIMITS=NAME=SIZE;...]
// A "%p" in FILE is this process's id: children and a wrapper's next commands inherit the
// variable, and each then writes its own file.
void write_exit_report() {
    if (g_done.exchange(true)) return;
    const ReachEntry entry;
    const char *pattern = std::getenv("NMLEAK_REPORT");
    const std::string expanded = pattern && *pattern ? report_path_for_pid(pattern, long(::getpid())) : std::string();
    const char *path = expanded.empty() ? nullptr : expanded.c_str();
    const char *fmt = std::getenv("NMLEAK_REPORT_FORMAT");
    EnvSettings settings;
    std::string error;
    if (!settings_from_env(&settings, &error)) std::fprintf(stderr, "nmleak: %s\n", text::escape(error).c_str());
    model::Snapshot snap = capture_snapshot(true);
    if (path && *path && !write_file(snap, path, fmt ? fmt : "", settings.options(), &error))
        std::fprintf(stderr, "nmleak: cannot write the exit report %s: %s\n", text::escape(path).c_str(),
                     text::escape(error).c_str());
    const LeakCount count = count_leaks(snap, settings.options());
    const int code = settings.fail_on_leak || !settings.budgets.empty()
                         ? exit_code_for(count, settings.fail_on_leak)
                         : kExitOk;
    if (code != 0) {
        // Like LeakSanitizer: the leaks decide the exit status; flush what the program wrote.
        for (const BudgetCheck &c : count.over_budget)
            std::fprintf(stderr, "nmleak: over budget: %s\n", describe(c, settings.budgets).c_str());
        if (count.over_budget.empty())
            std::fprintf(stderr, "nmleak: unsuppressed leaks remain (NMLEAK_FAIL_ON_LEAK): exit %d\n", code);
        else
            std::fprintf(stderr, "nmleak: %zu budget%s exceeded (NMLEAK_LIMITS): exit %d\n",
                         count.over_budget.size(), count.over_budget.size() == 1 ? "" : "s", code);
        std::fflush(nullptr);
        _exit(code);
    }
}

} // namespace

bool arrange_exit_report() {
    const char *report = std::getenv("NMLEAK_REPORT");
    const char *fail = std::getenv("NMLEAK_FAIL_ON_LEAK");
    const char *limits = std::getenv("NMLEAK_LIMITS");
    if (!((report && *report) || (fail && *fail && std::strcmp(fail, "0") != 0) || (limits && *limits)))
        return false;
    std::atexit(write_exit_report);
    return true;
}

void write_exit_report_once() noexcept {
    try {
        write_exit_report();
    } catch (...) {
        // The process is ending: there is no one left to tell.
    }
}

} // namespace nm::report

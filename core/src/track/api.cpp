// api.cpp - the exported C functions of netmon.h and nmhost.h, and the report at process exit.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

#include "netmon.h"
#include "nmhost.h"
#include "nmleak/capture.hpp"
#include "nmleak/report.hpp"
#include "track/tracker.hpp"

#define NM_API extern "C" __attribute__((visibility("default")))

using nm::track::Tracker;

// Each function passes its own frame so the stack starts at its caller: the expert's call site.
NM_API LPVOID WINAPI ExpertAllocMemory(HEXPERTKEY hExpertKey, SIZE_T nBytes, LPDWORD pError) {
    return Tracker::get().alloc(hExpertKey, nBytes, pError, __builtin_frame_address(0));
}

NM_API LPVOID WINAPI ExpertReallocMemory(HEXPERTKEY hExpertKey, LPVOID pOriginalMemory, SIZE_T nBytes,
                                         LPDWORD pError) {
    return Tracker::get().realloc(hExpertKey, pOriginalMemory, nBytes, pError, __builtin_frame_address(0));
}

NM_API SIZE_T WINAPI ExpertFreeMemory(HEXPERTKEY hExpertKey, LPVOID pMemory) {
    return Tracker::get().free(hExpertKey, pMemory, __builtin_frame_address(0));
}

NM_API SIZE_T WINAPI ExpertMemorySize(HEXPERTKEY hExpertKey, LPVOID pOriginalMemory) {
    return Tracker::get().size_of(hExpertKey, pOriginalMemory);
}

NM_API DWORD WINAPI ExpertIndicateStatus(HEXPERTKEY hExpertKey, EXPERTSTATUSENUMERATION Status, DWORD SubStatus,
                                         const char *szText, LONG PercentDone) {
    return Tracker::get().indicate_status(hExpertKey, uint32_t(Status), SubStatus, szText, PercentDone);
}

NM_API HEXPERTKEY WINAPI NmOpenExpertKey(const char *expertName) {
    return Tracker::get().open_key(expertName);
}

NM_API DWORD WINAPI NmRequestExpertTerminate(HEXPERTKEY hExpertKey) {
    return Tracker::get().request_terminate(hExpertKey);
}

NM_API DWORD WINAPI NmCloseExpertKey(HEXPERTKEY hExpertKey, DWORD outcome, NMCLEANUPINFO *pInfo) {
    nm::track::Cleanup c;
    DWORD rc = Tracker::get().close_key(hExpertKey, outcome, &c);
    if (rc == NMERR_SUCCESS && pInfo) {
        pInfo->Blocks = c.blocks;
        pInfo->Bytes = c.bytes;
    }
    return rc;
}

NM_API DWORD WINAPI NmSetStackDepth(DWORD depth) {
    if (depth > NM_MAX_STACK_DEPTH) return NMERR_INVALID_PARAMETER;
    Tracker::get().set_stack_depth(depth);
    return NMERR_SUCCESS;
}

NM_API DWORD WINAPI NmWriteReport(const char *path, const char *format) {
    if (!path || !*path) return NMERR_INVALID_PARAMETER;
    std::string error;
    nm::model::Snapshot snap = nm::capture_snapshot(true);
    if (!nm::report::write_file(snap, path, format ? format : "", &error)) {
        std::fprintf(stderr, "nmleak: cannot write report %s: %s\n", path, error.c_str());
        return NMERR_INVALID_PARAMETER;
    }
    return NMERR_SUCCESS;
}

namespace {

// NMLEAK_REPORT=FILE [NMLEAK_REPORT_FORMAT=fmt] [NMLEAK_SUPPRESSIONS=FILE] [NMLEAK_FAIL_ON_LEAK=1]
// [NMLEAK_LIMITS=NAME=SIZE;...]
void write_exit_report() {
    const char *path = std::getenv("NMLEAK_REPORT");
    const char *fmt = std::getenv("NMLEAK_REPORT_FORMAT");
    nm::report::EnvSettings settings;
    std::string error;
    if (!nm::report::settings_from_env(&settings, &error))
        std::fprintf(stderr, "nmleak: %s\n", error.c_str());
    nm::model::Snapshot snap = nm::capture_snapshot(true);
    if (path && *path && !nm::report::write_file(snap, path, fmt ? fmt : "", settings.options(), &error))
        std::fprintf(stderr, "nmleak: cannot write the exit report %s: %s\n", path, error.c_str());
    const nm::report::LeakCount count = nm::report::count_leaks(snap, settings.options());
    int code = settings.fail_on_leak || !settings.budgets.empty()
                   ? nm::report::exit_code_for(count, settings.fail_on_leak)
                   : 0;
    if (code != 0) {
        // Like LeakSanitizer: the leaks decide the exit status; flush what the program wrote.
        for (const nm::report::BudgetCheck &c : count.over_budget)
            std::fprintf(stderr, "nmleak: over budget: %s\n", nm::report::describe(c, settings.budgets).c_str());
        if (count.over_budget.empty())
            std::fprintf(stderr, "nmleak: unsuppressed leaks remain (NMLEAK_FAIL_ON_LEAK): exit %d\n", code);
        else
            std::fprintf(stderr, "nmleak: %zu budget%s exceeded (NMLEAK_LIMITS): exit %d\n",
                         count.over_budget.size(), count.over_budget.size() == 1 ? "" : "s", code);
        std::fflush(nullptr);
        _exit(code);
    }
}

// Runs when libnmapi is loaded: starts the tracker (so its clock and options are set before the
// first key) and arranges the NMLEAK_REPORT report at exit.
__attribute__((constructor)) void nmapi_init() {
    Tracker::get();
    const char *report = std::getenv("NMLEAK_REPORT");
    const char *fail = std::getenv("NMLEAK_FAIL_ON_LEAK");
    const char *limits = std::getenv("NMLEAK_LIMITS");
    if ((report && *report) || (fail && *fail && std::strcmp(fail, "0") != 0) || (limits && *limits))
        std::atexit(write_exit_report);
}

} // namespace

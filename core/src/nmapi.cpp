// nmapi.cpp - libnmapi's start-up, the one place that sees every layer: starts the tracker and
// arranges the exit report.
#include "report/exit_report.hpp"
#include "track/exit_hook.hpp"
#include "track/tracker.hpp"

namespace {

// Runs when libnmapi is loaded: starts the tracker (so its clock and options are set before the
// first key) and arranges the NMLEAK_REPORT report at exit.
__attribute__((constructor)) void nmapi_init() {
    nm::track::Tracker::get();
    // _exit skips atexit: libnmapi's _exit (host/threads.cpp) writes the report through this hook.
    if (nm::report::arrange_exit_report()) nm::track::set_exit_hook(&nm::report::write_exit_report_once);
}

} // namespace

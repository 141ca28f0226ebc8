// exit_report.hpp - the report libnmapi writes when the process exits (NMLEAK_REPORT,
// NMLEAK_FAIL_ON_LEAK).
#pragma once

namespace nm::report {

// Registers the exit report with atexit() when the environment asks for one; true then.
bool arrange_exit_report();
// Writes the exit report now, once per process (exit() after _exit() wrote it finds it done). For
// the _exit() path (track/exit_hook.hpp), which skips atexit handlers.
void write_exit_report_once() noexcept;

} // namespace nm::report

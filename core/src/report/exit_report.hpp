// exit_report.hpp - the report libnmapi writes when the process exits (NMLEAK_REPORT,
// NMLEAK_FAIL_ON_LEAK).
#pragma once

namespace nm::report {

// Registers the exit report with atexit() when the environment asks for one.
void arrange_exit_report();

} // namespace nm::report

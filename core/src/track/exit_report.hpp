// exit_report.hpp - the NMLEAK_REPORT report of a process that ends without running atexit
// handlers (_exit, _Exit: a shell's usual way out).
#pragma once

namespace nm::track {

// Writes the at-exit report now, as exit() would have, once per process; does nothing when the
// environment asked for none, or in a fork child of the process that loaded libnmapi. May end the
// process with status 23 (NMLEAK_FAIL_ON_LEAK), as the at-exit hook does.
void exit_report_before_exit() noexcept;

} // namespace nm::track

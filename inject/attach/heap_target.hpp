// heap_target.hpp - may nmleak observe this process's heap (`nmleak attach` of a process without
// libnmapi, or of one whose heap is not tracked yet)? The refusals, each with its reason: a static
// executable, a set-user-ID or set-group-ID one, a process whose malloc is not glibc's (another
// allocator preloaded, or linked into the executable). The agent checks the allocator again from
// inside (inject/got/heap_hooks.cpp), where every binding can be seen.
#pragma once

#include "proc.hpp"

#include <sys/types.h>

#include <string>
#include <vector>

namespace nm::inject {

// False with a one-line *error saying why nmleak will not attach to pid.
bool check_heap_target(pid_t pid, const ProcessInfo &info, const std::vector<Mapping> &maps, std::string *error);

// Set-user-ID / set-group-ID: by the credentials in /proc/PID/status (real and effective ids
// differ) or by the mode of its executable. Checked before anything else: such a process belongs
// to its file's owner, whoever started it. Empty when neither.
std::string setid_reason(pid_t pid);

} // namespace nm::inject

// sys.hpp - facts of the running system that several parts of nmleak read: small /proc files,
// signal names, demangled C++ names. One implementation of each, in the bottom layer
// (core/src/track/sys.cpp), so the host, the model, the reports, the agent, the command line and
// the GUI all say the same thing the same way.
//
// None of these is for the allocation path: they allocate.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace nm::sys {

// The contents of /proc/<pid>/<what> (pid 0: this process, through /proc/self), read whole up to
// max_bytes (/proc files report size 0, so they are read until the end). False when it cannot be
// opened or read; *out is then empty.
bool read_proc(pid_t pid, const char *what, std::string *out, size_t max_bytes = size_t(1) << 20);

// The target of /proc/<pid>/exe; "" when it cannot be read (another user's process, a zombie).
std::string proc_exe(pid_t pid);

// The process's argv joined by single spaces (/proc/<pid>/cmdline); "" when unreadable or empty
// (a kernel thread). At most max_bytes of it.
std::string proc_cmdline(pid_t pid, size_t max_bytes = 64 * 1024);

// "SIGSEGV", "SIGUSR1", "SIGRTMIN+3"; "signal 99" for a number that names none.
std::string signal_name(int sig);

// A linker symbol demangled when it is a mangled C++ name (_Z...), as it is otherwise ("main" stays
// "main"); "" for null.
std::string demangle_symbol(const char *symbol);

// A type name as typeid().name() gives it ("St13runtime_error") demangled ("std::runtime_error");
// as it is when it does not demangle; "" for null.
std::string demangle_type(const char *name);

} // namespace nm::sys

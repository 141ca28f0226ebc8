// proc.hpp - what /proc says about a target process: mappings, threads, owner, tracer, and why
// ptrace may be refused.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nm::inject {

struct Mapping {
    uint64_t start = 0, end = 0, offset = 0;
    std::string perms; // "r-xp"
    std::string path;  // empty for anonymous memory
};

// The value of a "Key:\t..." line of a /proc status file ("" when it has no such line).
std::string status_value(const std::string &status, const char *key);

// /proc/PID/maps. False with *error (gone, permission).
bool read_maps(pid_t pid, std::vector<Mapping> *out, std::string *error);
// The lowest mapping of `path`'s file (file offset 0), or nullptr.
const Mapping *find_object(const std::vector<Mapping> &maps, const std::string &path);
// The first mapping whose path's file name starts with `prefix` ("libc.so.6", "libnmapi.so").
const Mapping *find_by_name(const std::vector<Mapping> &maps, const std::string &prefix);
// True when `address` lies in an executable mapping of a file whose name starts with `prefix`.
bool in_object_text(const std::vector<Mapping> &maps, uint64_t address, const std::string &prefix);

struct ProcessInfo {
    bool exists = false;
    uid_t uid = 0;          // effective uid
    pid_t tracer = 0;       // TracerPid: someone (a debugger) already traces it
    pid_t ppid = 0;         // parent
    char state = '?';       // R, S, D, T (stopped), t (traced), Z...
    std::string comm;       // /proc/PID/comm
    std::string command;    // argv joined by spaces (empty when unreadable)
    bool maps_readable = false;
    bool has_libnmapi = false;
    bool has_agent = false;  // libnmleak-agent.so is mapped (an agent may or may not run)
    std::string maps_error;
};
ProcessInfo inspect_process(pid_t pid);

// Why a thread might be a good or bad one to borrow for the injected call.
struct ThreadInfo {
    pid_t tid = 0;
    std::string comm;
    long syscall = -2;      // -2: running; -1: blocked outside a system call; else the number
    pid_t tracer = 0;       // TracerPid of this thread (a debugger may trace one thread only)
};
std::vector<ThreadInfo> list_threads(pid_t pid);
// "read(2)", "futex(2)", "syscall 232", "running", "blocked".
std::string describe_syscall(long nr);
// Blocking waits that the kernel restarts transparently after a ptrace stop (read, poll, nanosleep,
// wait4, accept...). A thread parked in one of them holds no libc lock: the best one to borrow.
bool is_restartable_wait(long nr);

// "process 12 (name) has exited: it is a zombie until its parent 7 (sh) reaps it" - for a process
// in state Z or X, which has nothing left to attach or connect to.
std::string describe_exited(pid_t pid, const ProcessInfo &info);

// One line on why /proc/PID/maps of a process cannot be read by a client that only wants to
// connect to its agent (no ptrace involved): another user's process, or a non-dumpable one.
std::string explain_no_access(pid_t pid, const ProcessInfo &info);

// One line on why ptrace(2) may be refused here: Yama's ptrace_scope, a tracer already present,
// a process of another user. Used to explain EPERM.
std::string explain_ptrace_denied(pid_t pid, const ProcessInfo &info);

// Reads and writes another process's memory through /proc/PID/mem (the caller traces it).
class ProcMem {
public:
    explicit ProcMem(pid_t pid);
    ~ProcMem();
    ProcMem(const ProcMem &) = delete;
    ProcMem &operator=(const ProcMem &) = delete;
    bool ok() const { return fd_ >= 0; }
    bool read(uint64_t address, void *buf, size_t n) const;
    bool write(uint64_t address, const void *buf, size_t n) const;
    // A NUL-terminated string of at most max bytes ("" on failure).
    std::string read_string(uint64_t address, size_t max) const;

private:
    int fd_ = -1;
};

} // namespace nm::inject

// proc.cpp - /proc readers for the injector: maps, status, threads, and ptrace refusals explained.
#include "proc.hpp"

#include <nmleak/sys.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace nm::inject {
namespace {

std::string proc_path(pid_t pid, const char *what) { return "/proc/" + std::to_string(pid) + "/" + what; }

// /proc/PID/maps of a process with many mappings runs to megabytes; nothing is cut short below this.
constexpr size_t kMapsLimit = size_t(256) << 20;

std::string file_name(const std::string &path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

std::string status_value(const std::string &status, const char *key) {
    const std::string k = std::string(key) + ":";
    size_t at = 0;
    while (status.compare(at, k.size(), k) != 0) { // line by line
        at = status.find('\n', at);
        if (at == std::string::npos) return {};
        ++at;
    }
    at += k.size();
    while (at < status.size() && (status[at] == '\t' || status[at] == ' ')) ++at;
    return status.substr(at, status.find('\n', at) - at);
}

bool read_maps(pid_t pid, std::vector<Mapping> *out, std::string *error) {
    std::string text;
    if (!sys::read_proc(pid, "maps", &text, kMapsLimit)) {
        const int err = errno;
        if (error) *error = proc_path(pid, "maps") + ": " + std::strerror(err);
        return false;
    }
    out->clear();
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        // start-end perms offset dev inode path
        Mapping m;
        char perms[8] = {};
        unsigned long long start, end, offset, inode;
        char dev[16];
        int consumed = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %15s %llu %n", &start, &end, perms, &offset, dev, &inode,
                        &consumed) < 6)
            continue;
        m.start = start;
        m.end = end;
        m.offset = offset;
        m.perms = perms;
        if (consumed > 0 && size_t(consumed) < line.size()) m.path = line.substr(size_t(consumed));
        out->push_back(std::move(m));
    }
    return true;
}

const Mapping *find_object(const std::vector<Mapping> &maps, const std::string &path) {
    for (const Mapping &m : maps)
        if (m.path == path && m.offset == 0) return &m;
    return nullptr;
}

const Mapping *find_by_name(const std::vector<Mapping> &maps, const std::string &prefix) {
    for (const Mapping &m : maps)
        if (!m.path.empty() && m.path[0] == '/' && file_name(m.path).rfind(prefix, 0) == 0 && m.offset == 0) return &m;
    return nullptr;
}

bool in_object_text(const std::vector<Mapping> &maps, uint64_t address, const std::string &prefix) {
    for (const Mapping &m : maps)
        if (address >= m.start && address < m.end)
            return m.perms.size() > 2 && m.perms[2] == 'x' && file_name(m.path).rfind(prefix, 0) == 0;
    return false;
}

ProcessInfo inspect_process(pid_t pid) {
    ProcessInfo info;
    std::string status;
    if (pid <= 0 || !sys::read_proc(pid, "status", &status)) return info;
    info.exists = true;
    unsigned long real = 0, effective = 0;
    std::sscanf(status_value(status, "Uid").c_str(), "%lu %lu", &real, &effective);
    info.uid = uid_t(effective);
    info.tracer = pid_t(std::atol(status_value(status, "TracerPid").c_str()));
    info.ppid = pid_t(std::atol(status_value(status, "PPid").c_str()));
    const std::string state = status_value(status, "State");
    info.state = state.empty() ? '?' : state[0];
    info.comm = status_value(status, "Name");
    info.command = sys::proc_cmdline(pid, kMapsLimit);
    std::vector<Mapping> maps;
    if (read_maps(pid, &maps, &info.maps_error)) {
        info.maps_readable = true;
        info.has_libnmapi = find_by_name(maps, "libnmapi.so") != nullptr;
        info.has_agent = find_by_name(maps, "libnmleak-agent.so") != nullptr;
    }
    return info;
}

std::vector<ThreadInfo> list_threads(pid_t pid) {
    std::vector<ThreadInfo> out;
    DIR *d = ::opendir(proc_path(pid, "task").c_str());
    if (!d) return out;
    while (dirent *e = ::readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        ThreadInfo t;
        t.tid = pid_t(std::atol(e->d_name));
        const std::string base = std::string("task/") + e->d_name + "/";
        std::string text;
        if (sys::read_proc(pid, (base + "comm").c_str(), &text)) t.comm = text.substr(0, text.find('\n'));
        if (sys::read_proc(pid, (base + "syscall").c_str(), &text)) {
            if (text.rfind("running", 0) == 0) t.syscall = -2;
            else t.syscall = std::atol(text.c_str());
        }
        if (sys::read_proc(pid, (base + "status").c_str(), &text))
            t.tracer = pid_t(std::atol(status_value(text, "TracerPid").c_str()));
        out.push_back(std::move(t));
    }
    ::closedir(d);
    return out;
}

std::string describe_syscall(long nr) {
    switch (nr) {
    case -2: return "running";
    case -1: return "blocked";
    case 0: return "read(2)";
    case 7: return "poll(2)";
    case 17: return "pread64(2)";
    case 19: return "readv(2)";
    case 23: return "select(2)";
    case 34: return "pause(2)";
    case 35: return "nanosleep(2)";
    case 43: return "accept(2)";
    case 45: return "recvfrom(2)";
    case 47: return "recvmsg(2)";
    case 61: return "wait4(2)";
    case 202: return "futex(2)";
    case 230: return "clock_nanosleep(2)";
    case 232: return "epoll_wait(2)";
    case 247: return "waitid(2)";
    case 270: return "pselect6(2)";
    case 271: return "ppoll(2)";
    case 281: return "epoll_pwait(2)";
    case 288: return "accept4(2)";
    }
    return "syscall " + std::to_string(nr);
}

bool is_restartable_wait(long nr) {
    switch (nr) {
    case 0: case 7: case 17: case 19: case 23: case 34: case 35: case 43: case 45: case 47: case 61:
    case 202: case 230: case 247: case 270: case 271: case 288:
        return true;
    }
    return false;
}

std::string describe_exited(pid_t pid, const ProcessInfo &info) {
    std::string parent;
    if (info.ppid > 0) {
        std::string comm;
        parent = " " + std::to_string(info.ppid);
        if (sys::read_proc(info.ppid, "comm", &comm)) parent += " (" + comm.substr(0, comm.find('\n')) + ")";
    }
    const std::string who = "process " + std::to_string(pid) + (info.comm.empty() ? "" : " (" + info.comm + ")");
    if (info.state == 'Z')
        return who + " has exited: it is a zombie until its parent" + parent +
               " reaps it, and has nothing left to attach or connect to";
    return who + " is exiting; nothing is left to attach or connect to";
}

std::string explain_no_access(pid_t pid, const ProcessInfo &info) {
    const std::string who = "process " + std::to_string(pid) + (info.comm.empty() ? "" : " (" + info.comm + ")");
    if (info.uid != ::geteuid() && ::geteuid() != 0)
        return who + " belongs to uid " + std::to_string(info.uid) + " and you are uid " + std::to_string(::geteuid()) +
               "; an agent serves only its own user and root";
    return "cannot read /proc/" + std::to_string(pid) + "/maps (" + info.maps_error + "): " + who +
           " may be non-dumpable (setuid, prctl(PR_SET_DUMPABLE, 0))";
}

std::string explain_ptrace_denied(pid_t pid, const ProcessInfo &info) {
    if (info.tracer != 0)
        return "process " + std::to_string(pid) + " is already traced by process " + std::to_string(info.tracer) +
               " (a debugger?); only one tracer at a time: detach it first";
    if (info.uid != ::geteuid() && ::geteuid() != 0)
        return "process " + std::to_string(pid) + " belongs to uid " + std::to_string(info.uid) + " and you are uid " +
               std::to_string(::geteuid()) + ": run nmleak as that user or as root";
    std::ifstream scope_file("/proc/sys/kernel/yama/ptrace_scope"); // a system file, not a process's
    int scope = -1;
    if (scope_file >> scope) {
        switch (scope) {
        case 1:
            return "Yama ptrace_scope is 1: only a parent may ptrace its children. Run 'nmleak attach' as root, "
                   "start the analyzer with 'nmleak run', or allow it: sysctl kernel.yama.ptrace_scope=0";
        case 2:
            return "Yama ptrace_scope is 2: only root (CAP_SYS_PTRACE) may ptrace. Run 'nmleak attach' as root";
        case 3:
            return "Yama ptrace_scope is 3: ptrace is disabled until reboot. Start the analyzer with 'nmleak run' "
                   "instead";
        }
    }
    return "the kernel refused ptrace: the process may be non-dumpable (setuid, prctl(PR_SET_DUMPABLE, 0)), or "
           "this is a container without CAP_SYS_PTRACE";
}

ProcMem::ProcMem(pid_t pid) { fd_ = ::open(proc_path(pid, "mem").c_str(), O_RDWR | O_CLOEXEC); }

ProcMem::~ProcMem() {
    if (fd_ >= 0) ::close(fd_);
}

bool ProcMem::read(uint64_t address, void *buf, size_t n) const {
    return fd_ >= 0 && ::pread(fd_, buf, n, off_t(address)) == ssize_t(n);
}

bool ProcMem::write(uint64_t address, const void *buf, size_t n) const {
    return fd_ >= 0 && ::pwrite(fd_, buf, n, off_t(address)) == ssize_t(n);
}

std::string ProcMem::read_string(uint64_t address, size_t max) const {
    std::string s;
    char c;
    while (s.size() < max && read(address + s.size(), &c, 1) && c) s += c;
    return s;
}

} // namespace nm::inject

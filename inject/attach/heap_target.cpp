// heap_target.cpp - the refusals of `nmleak attach` that come from the target program itself.
#include "heap_target.hpp"

#include "elf_symbols.hpp"

#include <nmleak/sys.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

namespace nm::inject {
namespace {

// The four ids of a "Uid:" or "Gid:" line of /proc/PID/status (real, effective, saved, fs).
bool status_ids(pid_t pid, const char *field, long ids[4]) {
    std::string status;
    if (!sys::read_proc(pid, "status", &status)) return false;
    std::istringstream in(status_value(status, field));
    return bool(in >> ids[0] >> ids[1] >> ids[2] >> ids[3]);
}

std::string file_name(const std::string &path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// LD_PRELOAD as the process started (its initial environment), split as ld.so splits it.
std::vector<std::string> initial_preload(pid_t pid) {
    std::string environ;
    std::vector<std::string> out;
    if (!sys::read_proc(pid, "environ", &environ, size_t(64) << 20)) return out;
    std::istringstream f(environ);
    std::string entry;
    while (std::getline(f, entry, '\0')) {
        if (entry.rfind("LD_PRELOAD=", 0) != 0) continue;
        std::string cur;
        for (char c : entry.substr(11) + ":") {
            if (c == ':' || c == ' ') {
                if (!cur.empty()) out.push_back(file_name(cur));
                cur.clear();
            } else {
                cur += c;
            }
        }
    }
    return out;
}

} // namespace

std::string setid_reason(pid_t pid) {
    const std::string p = std::to_string(pid);
    long uid[4], gid[4];
    if (status_ids(pid, "Uid", uid) && (uid[0] != uid[1] || uid[1] != uid[2]))
        return "process " + p + " runs set-user-ID (real uid " + std::to_string(uid[0]) + ", effective uid " +
               std::to_string(uid[1]) + "); nmleak does not attach to set-user-ID or set-group-ID programs";
    if (status_ids(pid, "Gid", gid) && (gid[0] != gid[1] || gid[1] != gid[2]))
        return "process " + p + " runs set-group-ID (real gid " + std::to_string(gid[0]) + ", effective gid " +
               std::to_string(gid[1]) + "); nmleak does not attach to set-user-ID or set-group-ID programs";
    struct stat st;
    if (::stat(("/proc/" + p + "/exe").c_str(), &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID))) {
        std::string exe = sys::proc_exe(pid);
        if (exe.empty()) exe = "its executable";
        return "process " + p + " runs " + exe + ", a set-" + ((st.st_mode & S_ISUID) ? "user" : "group") +
               "-ID executable; nmleak does not attach to set-user-ID or set-group-ID programs";
    }
    return "";
}

bool check_heap_target(pid_t pid, const ProcessInfo &info, const std::vector<Mapping> &maps, std::string *error) {
    const std::string p = std::to_string(pid);
    const std::string exe = "/proc/" + p + "/exe";
    bool interp = false, dynamic = false;
    std::string why;
    if (!elf_program_kind(exe, &interp, &dynamic, &why)) {
        *error = "cannot read the executable of process " + p + ": " + why;
        return false;
    }
    if (!interp) {
        *error = "process " + p + " (" + info.comm + ") runs a static executable" +
                 (dynamic ? " (static-pie)" : "") +
                 ": it has no dynamic loader, so nmleak can neither load into it nor redirect its malloc";
        return false;
    }
    if (!find_by_name(maps, "libc.so.6")) {
        *error = "process " + p + " (" + info.comm + ") does not use glibc (no libc.so.6 mapped)";
        return false;
    }
    // An allocator that takes malloc over for the whole process: preloaded, or in the executable.
    std::vector<const Mapping *> candidates;
    for (const std::string &pre : initial_preload(pid)) {
        if (pre.rfind("libnmleak-", 0) == 0) continue; // nmleak run's own shims
        if (const Mapping *m = find_by_name(maps, pre)) candidates.push_back(m);
    }
    uint64_t address = 0;
    for (const Mapping *m : candidates)
        if (resolve_symbol(pid, *m, "malloc", &address, &why)) {
            *error = "process " + p + " (" + info.comm + ") runs another allocator: malloc comes from " + m->path +
                     " (preloaded), not glibc; nmleak attach observes glibc's malloc only (start it with "
                     "'nmleak run' instead, without that preload)";
            return false;
        }
    for (const Mapping &m : maps) {
        if (m.offset != 0 || m.path.empty() || m.path[0] != '/') continue;
        const std::string target = sys::proc_exe(pid);
        if (target.empty()) break;
        if (m.path != target) continue;
        if (resolve_symbol(pid, m, "malloc", &address, &why)) {
            *error = "process " + p + " (" + info.comm + ") runs another allocator: its executable " + m.path +
                     " defines malloc itself; nmleak attach observes glibc's malloc only";
            return false;
        }
        break;
    }
    return true;
}

} // namespace nm::inject

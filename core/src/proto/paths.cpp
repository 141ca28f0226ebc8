// paths.cpp - where agent sockets live, and the checks that keep other users out of them.
//
// The socket file itself is not the access control: its directory is. Each user's agents put their
// sockets in a directory only that user may enter (mode 0700, owned by them, not a symlink), so
// another local user can neither connect nor plant a fake socket there. The agent additionally
// checks each peer's credentials (SO_PEERCRED), and clients check that the peer is the process they
// asked for.
#include <nmleak/protocol.hpp>
#include <nmleak/sys.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace nm::proto {
namespace {

bool fail(std::string *error, std::string why) {
    if (error) *error = std::move(why);
    return false;
}

std::string errno_text(int err) { return std::strerror(err); }

bool check_stat(const std::string &dir, const struct stat &st, uid_t uid, std::string *error) {
    if (S_ISLNK(st.st_mode)) return fail(error, dir + " is a symbolic link; refusing to use it");
    if (!S_ISDIR(st.st_mode)) return fail(error, dir + " exists but is not a directory");
    if (st.st_uid != uid)
        return fail(error, dir + " belongs to uid " + std::to_string(st.st_uid) + ", not " +
                               std::to_string(uid) + "; refusing to use it");
    if (st.st_mode & 077) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
        return fail(error, dir + " has mode " + mode + "; it must be 0700 (others must not enter it)");
    }
    return true;
}

} // namespace

std::string socket_name(pid_t pid) { return "nmleak-" + std::to_string(pid) + ".sock"; }

std::string socket_dir(uid_t uid, const char *xdg_runtime_dir) {
    if (xdg_runtime_dir && xdg_runtime_dir[0] == '/') {
        struct stat st;
        if (::stat(xdg_runtime_dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid)
            return std::string(xdg_runtime_dir) + "/nmleak";
    }
    return "/tmp/nmleak-" + std::to_string(uid);
}

bool check_private_dir(const std::string &dir, uid_t uid, std::string *error) {
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0) return fail(error, dir + ": " + errno_text(errno));
    return check_stat(dir, st, uid, error);
}

bool ensure_private_dir(const std::string &dir, uid_t uid, std::string *error) {
    if (::mkdir(dir.c_str(), 0700) == 0) {
        // We made it: make the mode exactly 0700 whatever the process's umask is. (A directory that
        // already existed is never changed: it may be someone else's.)
        ::chmod(dir.c_str(), 0700);
    } else if (errno != EEXIST) {
        return fail(error, "cannot create " + dir + ": " + errno_text(errno));
    }
    // O_NOFOLLOW + fstat: checks the directory entry itself, not what a symlink points to.
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        struct stat st;
        if (::lstat(dir.c_str(), &st) == 0 && !check_stat(dir, st, uid, error)) return false;
        return fail(error, "cannot open " + dir + ": " + errno_text(err));
    }
    struct stat st;
    const bool ok = ::fstat(fd, &st) == 0 && check_stat(dir, st, uid, error);
    ::close(fd);
    return ok;
}

bool process_uid(pid_t pid, uid_t *uid) {
    std::string status;
    if (!sys::read_proc(pid, "status", &status)) return false;
    const size_t at = status.find("\nUid:");
    if (at == std::string::npos) return false;
    std::istringstream line(status.substr(at + 5, status.find('\n', at + 1) - at - 5));
    unsigned long real = 0, effective = 0;
    if (!(line >> real >> effective)) return false;
    *uid = uid_t(effective);
    return true;
}

std::vector<std::string> socket_candidates(pid_t pid) {
    std::vector<std::string> dirs;
    uid_t uid;
    if (!process_uid(pid, &uid)) uid = ::geteuid();
    // The target's own environment decides where its agent put the socket. Readable for the same
    // user and root; otherwise fall back to the usual places.
    std::string env;
    if (sys::read_proc(pid, "environ", &env)) {
        for (size_t at = 0; at < env.size();) {
            size_t end = env.find('\0', at);
            if (end == std::string::npos) end = env.size();
            if (env.compare(at, 16, "XDG_RUNTIME_DIR=") == 0)
                dirs.push_back(socket_dir(uid, env.substr(at + 16, end - at - 16).c_str()));
            at = end + 1;
        }
    }
    if (uid == ::geteuid()) dirs.push_back(socket_dir(uid, std::getenv("XDG_RUNTIME_DIR")));
    dirs.push_back("/run/user/" + std::to_string(uid) + "/nmleak");
    dirs.push_back("/tmp/nmleak-" + std::to_string(uid));
    std::vector<std::string> out;
    for (const std::string &d : dirs) {
        std::string p = d + "/" + socket_name(pid);
        if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
    }
    return out;
}

} // namespace nm::proto

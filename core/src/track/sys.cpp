// sys.cpp - see nmleak/sys.hpp.
#include "nmleak/sys.hpp"

#include <cxxabi.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

namespace nm::sys {
namespace {

std::string proc_path(pid_t pid, const char *what) {
    return (pid == 0 ? std::string("/proc/self/") : "/proc/" + std::to_string(pid) + "/") + what;
}

std::string demangled(const char *name) {
    int status = 0;
    char *d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    std::string out = (status == 0 && d != nullptr) ? d : name;
    std::free(d);
    return out;
}

} // namespace

bool read_proc(pid_t pid, const char *what, std::string *out, size_t max_bytes) {
    out->clear();
    const int fd = ::open(proc_path(pid, what).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[4096];
    bool ok = true;
    while (out->size() < max_bytes) {
        const ssize_t n = ::read(fd, buf, std::min(sizeof buf, max_bytes - out->size()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) ok = false;
        if (n <= 0) break;
        out->append(buf, size_t(n));
    }
    ::close(fd);
    if (!ok) out->clear();
    return ok;
}

std::string proc_exe(pid_t pid) {
    char buf[4096];
    const ssize_t n = ::readlink(proc_path(pid, "exe").c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

std::string proc_cmdline(pid_t pid, size_t max_bytes) {
    std::string raw;
    if (!read_proc(pid, "cmdline", &raw, max_bytes)) return {};
    while (!raw.empty() && raw.back() == '\0') raw.pop_back();
    std::replace(raw.begin(), raw.end(), '\0', ' ');
    return raw;
}

std::string signal_name(int sig) {
    if (sig >= SIGRTMIN && sig <= SIGRTMAX)
        return sig == SIGRTMIN ? "SIGRTMIN" : "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
    if (const char *abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
    return "signal " + std::to_string(sig);
}

std::string demangle_symbol(const char *symbol) {
    if (symbol == nullptr) return {};
    return (symbol[0] == '_' && symbol[1] == 'Z') ? demangled(symbol) : std::string(symbol);
}

std::string demangle_type(const char *name) { return name == nullptr ? std::string() : demangled(name); }

} // namespace nm::sys

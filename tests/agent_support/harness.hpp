// harness.hpp - real processes for the agent tests: start agent_target (directly or under
// `nmleak run`), talk to it over pipes, run nmleak verbs and capture what they print.
#pragma once

#include <nmleak/model.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef NMT_AGENT_TARGET
#define NMT_AGENT_TARGET NM_BUILD_DIR "/tests/agent_support/agent_target"
#endif
#ifndef NMT_NMLEAK
#define NMT_NMLEAK NM_BUILD_DIR "/inject/nmleak"
#endif
#ifndef NMT_AGENT_LIB
#define NMT_AGENT_LIB NM_BUILD_DIR "/inject/agent/libnmleak-agent.so"
#endif

namespace nmt {

inline int64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

inline void sleep_ms(int ms) {
    timespec ts{ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, nullptr);
}

// A child process with its stdin and stdout on pipes (stderr: a file, read on demand).
class Process {
public:
    Process() = default;
    Process(const Process &) = delete;
    Process &operator=(const Process &) = delete;
    ~Process() {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
        }
        if (in_ >= 0) ::close(in_);
        if (out_ >= 0) ::close(out_);
        if (!err_path_.empty()) ::unlink(err_path_.c_str());
    }

    // env: "NAME=value" entries added to (or replacing in) this process's environment.
    bool start(const std::vector<std::string> &argv, const std::vector<std::string> &env = {}) {
        int in[2], out[2];
        if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return false;
        char tmpl[] = "/tmp/nmt-stderr-XXXXXX";
        const int err = ::mkstemp(tmpl);
        err_path_ = tmpl;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(in[0], 0);
            ::dup2(out[1], 1);
            ::dup2(err, 2);
            for (const std::string &e : env) ::putenv(::strdup(e.c_str()));
            std::vector<char *> args;
            for (const std::string &a : argv) args.push_back(::strdup(a.c_str()));
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::close(err);
        ::close(in[0]);
        ::close(out[1]);
        in_ = in[1];
        out_ = out[0];
        return pid_ > 0;
    }

    pid_t pid() const { return pid_; }

    // The next stdout line starting with `prefix` (other lines are skipped); false on timeout/EOF.
    bool wait_line(const std::string &prefix, std::string *line, int timeout_ms = 10000) {
        const int64_t deadline = now_ms() + timeout_ms;
        for (;;) {
            for (size_t nl; (nl = buf_.find('\n')) != std::string::npos;) {
                std::string l = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                seen_ += l + "\n";
                if (l.rfind(prefix, 0) == 0) {
                    if (line) *line = l;
                    return true;
                }
            }
            const int64_t left = deadline - now_ms();
            if (left <= 0) return false;
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, int(left)) <= 0) return false;
            char b[4096];
            const ssize_t n = ::read(out_, b, sizeof b);
            if (n <= 0) return false;
            buf_.append(b, size_t(n));
        }
    }

    // Waits for "ready PID worker=TID"; returns the PID it printed (the analyzer's own pid, which
    // under `nmleak run` is the child's).
    pid_t wait_ready(pid_t *worker = nullptr) {
        std::string line;
        if (!wait_line("ready ", &line)) return 0;
        if (worker) *worker = pid_t(std::atol(line.c_str() + line.find("worker=") + 7));
        return pid_t(std::atol(line.c_str() + 6));
    }

    bool send(const std::string &line) {
        const std::string s = line + "\n";
        return ::write(in_, s.data(), s.size()) == ssize_t(s.size());
    }

    // A command and its one-line answer.
    std::string ask(const std::string &command, const std::string &answer_prefix, int timeout_ms = 10000) {
        std::string line;
        if (!send(command) || !wait_line(answer_prefix, &line, timeout_ms)) return "";
        return line;
    }

    // Exit status, 128+signal, or -1 on timeout.
    int wait_exit(int timeout_ms = 20000) {
        const int64_t deadline = now_ms() + timeout_ms;
        for (;;) {
            int st = 0;
            const pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                exited_ = true;
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            }
            if (now_ms() > deadline) return -1;
            sleep_ms(5);
        }
    }

    bool alive() const { return pid_ > 0 && !exited_ && ::kill(pid_, 0) == 0; }
    std::string stderr_text() const {
        std::ifstream f(err_path_);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }
    const std::string &stdout_seen() const { return seen_; }

private:
    pid_t pid_ = -1;
    int in_ = -1, out_ = -1;
    bool exited_ = false;
    std::string buf_, seen_, err_path_;
};

struct Result {
    int status = -1;
    std::string out, err;
};

// Runs a command to completion (argv[0] is a path), capturing stdout and stderr.
inline Result run(const std::vector<std::string> &argv, int timeout_ms = 60000) {
    Result r;
    char out_t[] = "/tmp/nmt-out-XXXXXX", err_t[] = "/tmp/nmt-err-XXXXXX";
    const int o = ::mkstemp(out_t), e = ::mkstemp(err_t);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(o, 1);
        ::dup2(e, 2);
        const int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
        std::vector<char *> args;
        for (const std::string &a : argv) args.push_back(::strdup(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(o);
    ::close(e);
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int st = 0;
        if (::waitpid(pid, &st, WNOHANG) == pid) {
            r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (now_ms() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &st, 0);
            break;
        }
        sleep_ms(2);
    }
    auto slurp = [](const char *p) {
        std::ifstream f(p);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    };
    r.out = slurp(out_t);
    r.err = slurp(err_t);
    ::unlink(out_t);
    ::unlink(err_t);
    return r;
}

inline Result nmleak(std::vector<std::string> args, int timeout_ms = 60000) {
    args.insert(args.begin(), NMT_NMLEAK);
    return run(args, timeout_ms);
}

// Why `nmleak attach` cannot work from this test process, or "" if it can: as non-root under Yama
// ptrace_scope >= 1, only a parent may ptrace, and nmleak is the target's sibling here.
inline std::string attach_unavailable() {
    if (::geteuid() == 0) return "";
    std::ifstream f("/proc/sys/kernel/yama/ptrace_scope");
    int scope = 0;
    if (f >> scope && scope >= 1)
        return "Yama ptrace_scope is " + std::to_string(scope) + ": run as root to test attach";
    return "";
}

// Switching to another user (setpriv --reuid=nobody) needs root.
inline std::string other_user_unavailable();

// nmleak as user "nobody" can run it: a copy of nmleak, the build tree's libraries it loads (ldd)
// and the agent, in a world-readable directory of its own. The build tree may sit where only
// its owner can enter (a checkout in /root, or in a mktemp -d directory); then "nobody" could not
// load libnmapi.so.0 from it. Made once per test process, removed at its exit; "" on failure.
inline const std::string &nmleak_copy_dir() {
    struct Dir {
        std::string path;
        Dir() {
            char tmpl[] = "/tmp/nmt-other-user-XXXXXX";
            if (!::mkdtemp(tmpl)) return;
            const std::string d = tmpl;
            auto copy = [](const std::string &from, const std::string &to) {
                return run({"/bin/cp", from, to}).status == 0 && ::chmod(to.c_str(), 0755) == 0;
            };
            bool ok = ::chmod(d.c_str(), 0755) == 0 && ::mkdir((d + "/agent").c_str(), 0755) == 0 &&
                      copy(NMT_NMLEAK, d + "/nmleak") && copy(NMT_AGENT_LIB, d + "/agent/libnmleak-agent.so");
            // Every library nmleak loads from the build tree (libnmapi.so.0 and whatever joins it).
            std::istringstream libs(run({"/usr/bin/ldd", NMT_NMLEAK}).out);
            for (std::string line; ok && std::getline(libs, line);) {
                const size_t arrow = line.find("=> " NM_BUILD_DIR "/");
                if (arrow == std::string::npos) continue;
                const std::string lib = line.substr(arrow + 3, line.find(" (", arrow) - arrow - 3);
                ok = copy(lib, d + "/" + lib.substr(lib.rfind('/') + 1));
            }
            if (ok) path = d;
            else run({"/bin/rm", "-rf", d});
        }
        ~Dir() {
            if (!path.empty()) run({"/bin/rm", "-rf", path});
        }
    };
    static Dir dir;
    return dir.path;
}

// argv that runs `nmleak ARGS` as user nobody (see nmleak_copy_dir).
inline std::vector<std::string> nmleak_as_nobody(const std::vector<std::string> &args) {
    const std::string &d = nmleak_copy_dir();
    std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                     "/usr/bin/env", "LD_LIBRARY_PATH=" + d, d + "/nmleak"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

inline std::string other_user_unavailable() {
    if (::geteuid() != 0) return "needs root to run a client as 'nobody'";
    if (::access("/usr/bin/setpriv", X_OK) != 0) return "setpriv (util-linux) is not installed";
    if (nmleak_copy_dir().empty()) return "cannot copy nmleak to a directory 'nobody' can read";
    return "";
}

// The comm names of a process's threads.
inline std::vector<std::string> thread_names(pid_t pid) {
    std::vector<std::string> names;
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    Result r = run({"/bin/sh", "-c", "cat " + dir + "/*/comm 2>/dev/null"});
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) names.push_back(l);
    return names;
}

inline int open_fd_count(pid_t pid) {
    Result r = run({"/bin/sh", "-c", "ls /proc/" + std::to_string(pid) + "/fd | wc -l"});
    return std::atoi(r.out.c_str());
}

// The expert named `name` in a snapshot, or nullptr.
inline const nm::model::Expert *expert(const nm::model::Snapshot &s, const std::string &name) {
    for (const auto &e : s.experts)
        if (e.name == name) return &e;
    return nullptr;
}

// True when stack `id` of `s` has a frame whose function contains `fn`.
inline bool stack_has(const nm::model::Snapshot &s, uint32_t id, const std::string &fn) {
    if (id >= s.stacks.size()) return false;
    for (uint32_t f : s.stacks[id].frames)
        if (f < s.frames.size() && s.frames[f].function.find(fn) != std::string::npos) return true;
    return false;
}

} // namespace nmt

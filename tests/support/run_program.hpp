// run_program.hpp - runs a program for the integration tests: its exit status (128+N when killed by
// signal N), its standard output, and (when asked) its standard error, each captured whole.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace nmt {

struct RunResult {
    int status = -1;
    std::string out;
    std::string err; // only when run() was given a file for it
};

// Runs argv[0] (a path; no PATH search) with argv. stdout comes back through a pipe; stderr goes
// to `err_file` and is read back when one is given, else it stays the test's own.
inline RunResult run(const std::vector<std::string> &argv, const std::string &err_file = "") {
    RunResult r;
    int fds[2];
    if (pipe(fds) != 0) return r;
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (!err_file.empty()) {
            const int e = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (e < 0) _exit(126);
            dup2(e, 2);
        }
        std::vector<char *> a;
        for (const std::string &s : argv) a.push_back(const_cast<char *>(s.c_str()));
        a.push_back(nullptr);
        execv(a[0], a.data());
        _exit(127);
    }
    close(fds[1]);
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) r.out.append(buf, size_t(n));
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (!err_file.empty()) {
        std::ifstream in(err_file);
        std::stringstream ss;
        ss << in.rdbuf();
        r.err = ss.str();
    }
    return r;
}

} // namespace nmt

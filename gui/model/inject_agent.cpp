// inject_agent.cpp - attaching to a process without an agent: runs `nmleak attach PID` off the UI thread.
#include "live_link.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

extern char **environ;

namespace nm::gui {
namespace {

namespace fs = std::filesystem;

bool executable(const fs::path &p) {
    struct stat st{};
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

} // namespace

std::string find_nmleak_binary() {
    if (const char *env = std::getenv("NMLEAK_BIN"); env && *env && executable(env)) return env;
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path dir = self.parent_path();
        // Installed side by side, or the build tree (build/gui/nmleak-gui, build/inject/nmleak).
        for (const fs::path &p : {dir / "nmleak", dir.parent_path() / "inject" / "nmleak",
                                  dir.parent_path().parent_path() / "inject" / "nmleak"})
            if (executable(p)) return p.string();
    }
    if (const char *path = std::getenv("PATH")) {
        std::stringstream ss(path);
        std::string d;
        while (std::getline(ss, d, ':'))
            if (!d.empty() && executable(fs::path(d) / "nmleak")) return (fs::path(d) / "nmleak").string();
    }
    return {};
}

bool inject_agent(int pid, int timeout_ms, std::string *error) {
    const std::string bin = find_nmleak_binary();
    if (bin.empty()) {
        *error = "the nmleak executable was not found (set NMLEAK_BIN)";
        return false;
    }
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        *error = "pipe failed";
        return false;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    const std::string pid_text = std::to_string(pid);
    char *argv[] = {const_cast<char *>(bin.c_str()), const_cast<char *>("attach"),
                    const_cast<char *>(pid_text.c_str()), nullptr};
    pid_t child = -1;
    const int rc = posix_spawn(&child, bin.c_str(), &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        *error = "could not run " + bin;
        return false;
    }

    // Collect its output until it exits or the deadline passes.
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, int(std::min<long>(left.count(), 200))) > 0) {
            char buf[512];
            const ssize_t n = read(out[0], buf, sizeof buf);
            if (n <= 0) break; // EOF: it exited (or closed its output)
            if (text.size() < 8192) text.append(buf, size_t(n));
        }
    }
    close(out[0]);
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 50 && (done = waitpid(child, &status, WNOHANG)) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (done == 0) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        *error = "nmleak attach " + pid_text + " did not finish in time";
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        text = trim(text);
        const size_t nl = text.rfind('\n');
        *error = text.empty() ? "nmleak attach " + pid_text + " failed" : text.substr(nl == std::string::npos ? 0 : nl + 1);
        return false;
    }
    return true;
}

} // namespace nm::gui

// processes.cpp - scans /proc and the agent socket directories for processes nmleak-gui can attach to.
#include "processes.hpp"

#include <nmleak/sys.hpp>

#include "live_link.hpp"
#include "model_data.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace nm::gui {
namespace {

std::string read_small_file(int pid, const char *what, size_t limit) {
    std::string out;
    nm::sys::read_proc(pid, what, &out, limit);
    return out;
}

std::string command_of(int pid) {
    std::string raw = read_small_file(pid, "cmdline", 4096);
    while (!raw.empty() && raw.back() == '\0') raw.pop_back();
    std::replace(raw.begin(), raw.end(), '\0', ' ');
    if (raw.empty()) {
        raw = read_small_file(pid, "comm", 256);
        while (!raw.empty() && raw.back() == '\n') raw.pop_back();
        if (!raw.empty()) raw = "[" + raw + "]";
    }
    return raw;
}

uint64_t rss_of(int pid) {
    std::istringstream in(read_small_file(pid, "statm", 256));
    uint64_t size = 0, resident = 0;
    in >> size >> resident;
    return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

// Reading /proc/PID/maps line by line stops at the first hit; most processes have short maps.
bool maps_nmapi(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    while (std::getline(in, line))
        if (line.find("/libnmapi.so") != std::string::npos) return true;
    return false;
}

// An agent socket's pid: the first run of digits in its file name ("1234.sock", "agent-1234").
int pid_of_socket_name(const std::string &name) {
    size_t i = 0;
    while (i < name.size() && !(name[i] >= '0' && name[i] <= '9')) ++i;
    if (i == name.size()) return 0;
    long v = std::strtol(name.c_str() + i, nullptr, 10);
    return v > 0 && v < (1L << 30) ? int(v) : 0;
}

} // namespace

std::vector<std::string> agent_socket_dirs() {
    std::vector<std::string> dirs;
    if (const char *xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) dirs.push_back(std::string(xdg) + "/nmleak");
    const std::string run = "/run/user/" + std::to_string(getuid()) + "/nmleak";
    if (dirs.empty() || dirs[0] != run) dirs.push_back(run);
    dirs.push_back("/tmp/nmleak-" + std::to_string(getuid()));
    return dirs;
}

std::vector<ProcessEntry> scan_processes() {
    std::map<int, ProcessEntry> found;
    const int self = getpid();
    const uid_t uid = getuid();

    for (const std::string &dir : agent_socket_dirs()) {
        DIR *d = opendir(dir.c_str());
        if (!d) continue;
        while (dirent *ent = readdir(d)) {
            const std::string name = ent->d_name;
            const std::string path = dir + "/" + name;
            struct stat st{};
            if (stat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
            const int pid = pid_of_socket_name(name);
            if (pid <= 0 || pid == self || access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0) continue;
            ProcessEntry &e = found[pid];
            e.pid = pid;
            e.has_agent = true;
            e.socket = path;
        }
        closedir(d);
    }

    if (DIR *d = opendir("/proc")) {
        while (dirent *ent = readdir(d)) {
            const int pid = std::atoi(ent->d_name);
            if (pid <= 0 || pid == self) continue;
            struct stat st{};
            if (stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0 || (uid != 0 && st.st_uid != uid)) continue;
            // nmleak's own tools link libnmapi too; they are not analyzers to attach to.
            std::error_code ec;
            const std::string exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).filename().string();
            if (exe == "nmleak" || exe == "nmleak-gui") continue;
            const bool mapped = maps_nmapi(pid);
            if (!mapped && !found.count(pid)) continue;
            ProcessEntry &e = found[pid];
            e.pid = pid;
            e.uses_nmapi = mapped;
        }
        closedir(d);
    }

    std::vector<ProcessEntry> out;
    out.reserve(found.size());
    for (auto &[pid, e] : found) {
        e.command = command_of(pid);
        e.rss_bytes = rss_of(pid);
        if (e.has_agent) e.live_known = query_live_bytes(pid, 300, &e.live_bytes);
        out.push_back(std::move(e));
    }
    std::sort(out.begin(), out.end(), [](const ProcessEntry &a, const ProcessEntry &b) {
        if (a.has_agent != b.has_agent) return a.has_agent;
        return a.pid < b.pid;
    });
    return out;
}

ProcessScanner::ProcessScanner(int period_ms) : period_ms_(period_ms) {
    list_ = std::make_shared<const std::vector<ProcessEntry>>();
    thread_ = std::thread([this] { loop(); });
}

ProcessScanner::~ProcessScanner() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void ProcessScanner::set_active(bool active) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (active_ == active) return;
        active_ = active;
        kick_ = kick_ || active;
    }
    cv_.notify_all();
}

void ProcessScanner::refresh() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        kick_ = true;
    }
    cv_.notify_all();
}

std::shared_ptr<const std::vector<ProcessEntry>> ProcessScanner::list() const {
    std::lock_guard<std::mutex> lock(mu_);
    return list_;
}

void ProcessScanner::loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
        cv_.wait_for(lock, std::chrono::milliseconds(period_ms_), [this] { return stop_ || kick_; });
        if (stop_) break;
        if (!kick_ && !active_) continue;
        kick_ = false;
        lock.unlock();
        auto list = std::make_shared<const std::vector<ProcessEntry>>(scan_processes());
        last_scan_ = now_ms();
        lock.lock();
        list_ = std::move(list);
        if (wake_) wake_();
    }
}

} // namespace nm::gui

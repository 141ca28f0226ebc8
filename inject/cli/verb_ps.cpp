// verb_ps.cpp - `nmleak ps`: processes that use libnmapi, with their agents' live figures.
#include "verb.hpp"

#include <nmleak/text.hpp>
#include <nmleak/sys.hpp>

#include "live_target.hpp"
#include "proc.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>

namespace nm::cli {
namespace {

struct Row {
    int pid = 0;
    std::string agent; // "yes", "no", "stopped", "error"
    std::string keys = "-", open = "-", blocks = "-", bytes = "-";
    std::string command;
    std::string note;
};

std::string exe_of(pid_t pid) { return nm::sys::proc_exe(pid); }

bool is_nmleak_tool(pid_t pid) {
    static const std::string self = exe_of(::getpid());
    const std::string exe = exe_of(pid);
    return !exe.empty() && (exe == self || exe.ends_with("/nmleak") || exe.ends_with("/nmleak-gui"));
}

// Sockets of agents whose process died without cleaning up (SIGKILL, _exit) stay behind in our
// own socket directory: remove those whose process is gone. Nothing of another user is touched.
int prune_stale_sockets() {
    const std::string dir = proto::socket_dir(::geteuid(), std::getenv("XDG_RUNTIME_DIR"));
    std::string why;
    if (!proto::check_private_dir(dir, ::geteuid(), &why)) return 0;
    DIR *d = ::opendir(dir.c_str());
    if (!d) return 0;
    int removed = 0;
    while (dirent *e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (!name.starts_with("nmleak-") || !name.ends_with(".sock") || name.size() <= 12) continue;
        const std::string digits = name.substr(7, name.size() - 12);
        if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
        const int pid = std::atoi(digits.c_str());
        if (pid <= 0) continue;
        if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
        const std::string path = dir + "/" + e->d_name;
        struct stat st;
        if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == ::geteuid())
            removed += ::unlink(path.c_str()) == 0;
    }
    ::closedir(d);
    return removed;
}

class PsVerb final : public Verb {
public:
    void configure(CLI::App &cmd) override {
        cmd.add_flag("--no-figures", no_figures_, "Do not ask the agents for their figures (faster)");
        cmd.footer("Also removes stale sockets (of processes that are gone) from your own socket directory.\n"
                   "Lists every process (of yours, or all as root) that has libnmapi.so mapped. AGENT yes: an "
                   "agent answers on its socket; KEYS counts every key (OPEN: still open), BLOCKS and BYTES are "
                   "what the open keys hold now. AGENT no: run 'nmleak attach PID' to see its figures.");
    }

    int run() override {
        prune_stale_sockets();
        std::vector<Row> rows;
        int hidden = 0;
        DIR *d = ::opendir("/proc");
        if (!d) return fail("cannot read /proc");
        while (dirent *e = ::readdir(d)) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
            const int pid = std::atoi(e->d_name);
            // nmleak itself (and nmleak-gui) link libnmapi too, but they are not analyzers.
            if (pid == ::getpid() || is_nmleak_tool(pid)) continue;
            const inject::ProcessInfo info = inject::inspect_process(pid);
            if (!info.exists) continue;
            if (!info.maps_readable) {
                ++hidden;
                continue;
            }
            if (!info.has_libnmapi) continue;
            rows.push_back(probe(pid, info));
        }
        ::closedir(d);
        std::sort(rows.begin(), rows.end(), [](const Row &a, const Row &b) { return a.pid < b.pid; });
        if (rows.empty()) {
            std::printf("nmleak: no process with libnmapi.so mapped%s\n",
                        hidden && ::geteuid() != 0 ? " (among those you may inspect)" : "");
        } else {
            std::printf("%7s  %-7s  %5s  %5s  %8s  %10s  %s\n", "PID", "AGENT", "KEYS", "OPEN", "BLOCKS", "BYTES",
                        "COMMAND");
            for (const Row &r : rows)
                std::printf("%7d  %-7s  %5s  %5s  %8s  %10s  %s%s\n", r.pid, r.agent.c_str(), r.keys.c_str(),
                            r.open.c_str(), r.blocks.c_str(), r.bytes.c_str(), text::escape(r.command).c_str(),
                            text::escape(r.note).c_str());
        }
        if (hidden && ::geteuid() != 0)
            std::printf("nmleak: %d processes of other users not inspected (run as root to see them)\n", hidden);
        return kExitOk;
    }

private:
    Row probe(int pid, const inject::ProcessInfo &info) {
        Row r;
        r.pid = pid;
        r.command = info.command.empty() ? "[" + info.comm + "]" : info.command;
        if (r.command.size() > 80) r.command = r.command.substr(0, 77) + "...";
        proto::ConnectOptions options;
        options.client_name = "nmleak ps";
        options.timeout_ms = 1000;
        // Figures only: a snapshot without block lists (cheap even for millions of blocks).
        options.hello_flags = no_figures_ ? proto::kHelloNoSnapshot : 0;
        proto::Client client;
        std::string error;
        if (!client.connect(pid, options, &error)) {
            r.agent = info.has_agent ? "stopped" : "no";
            r.note = "   (attach to see)";
            if (error.find("has no nmleak agent") == std::string::npos && error.find("stale") == std::string::npos)
                r.note = "   (" + error + ")";
            return r;
        }
        r.agent = "yes";
        if (no_figures_) return r;
        proto::Message m;
        if (client.read(&m, 2000, &error) != proto::ReadStatus::Message || m.type != proto::MessageType::Snapshot) {
            r.note = "   (no figures: " + (error.empty() ? std::string(proto::to_string(m.type)) : error) + ")";
            return r;
        }
        uint64_t open = 0, blocks = 0, bytes = 0;
        for (const auto &e : m.snapshot.experts) {
            if (e.state == model::ExpertState::Closed) continue;
            ++open;
            blocks += e.live_blocks;
            bytes += e.live_bytes;
        }
        r.keys = std::to_string(m.snapshot.experts.size());
        r.open = std::to_string(open);
        r.blocks = std::to_string(blocks);
        r.bytes = inject::human_bytes(bytes);
        return r;
    }

    bool no_figures_ = false;
};

} // namespace

NM_CLI_VERB(PsVerb, "ps", "List processes that use libnmapi, with their agents' figures", 30);

} // namespace nm::cli

// verb_snapshot.cpp - `nmleak snapshot PID -o FILE`: save a live process's snapshot via its agent.
#include "progress.hpp"
#include "verb.hpp"

#include <nmleak/text.hpp>

#include "live_target.hpp"

#include <nmleak/snapshot_io.hpp>

#include <time.h>

#include <cstdio>

namespace nm::cli {
namespace {

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

class SnapshotVerb final : public Verb {
public:
    void configure(CLI::App &cmd) override {
        cmd.add_option("PID", pid_, "A process with an agent (nmleak run, or nmleak attach)")->required();
        cmd.add_option("-o,--output", output_, "Snapshot file to write (.nmsnap)")->required();
        cmd.add_flag("--no-blocks", no_blocks_, "Leave out the live block lists (per-key figures, cleanups only)");
        cmd.add_flag("--attach", attach_,
                     "If PID has no agent, attach one for this snapshot and stop it again afterwards");
        cmd.add_option("--socket", socket_, "Connect to this agent socket instead of looking up PID's");
        cmd.add_flag("-q,--quiet", quiet_, "No progress line and no summary on standard error");
        cmd.add_option("--timeout", timeout_s_, "Seconds to wait for the snapshot (default 60)");
        cmd.footer("The file opens with 'nmleak report FILE', 'nmleak diff' and nmleak-gui; frames are symbolized "
                   "in the process, so it can be read on another machine.\n"
                   "Exit status: 0 written, 1 failed.");
    }

    int run() override {
        const double start = now_s();
        proto::ConnectOptions options;
        options.hello_flags = no_blocks_ ? 0 : proto::kHelloBlocks; // the snapshot, no updates
        options.client_name = "nmleak snapshot";
        options.socket_path = socket_;
        proto::Client client;
        std::string error;
        bool attached_here = false;
        if (!inject::connect_agent(pid_, options, &client, &error)) {
            // --attach helps only a process without an agent; a busy or refusing agent it does not.
            const bool no_agent = error.find("has no agent") != std::string::npos ||
                                  error.find("no agent running") != std::string::npos;
            if (!attach_ || !socket_.empty() || !no_agent)
                return fail(error + (!attach_ && no_agent && socket_.empty() ? " (or pass --attach)" : ""));
            inject::AttachOutcome out;
            // The agent only: a heap observed for the moment of one snapshot would hold nothing.
            if (!inject::attach(pid_, 0, &out, &error, false)) return fail(error);
            attached_here = !out.was_running;
            if (!inject::connect_agent(pid_, options, &client, &error)) return fail(error);
        }
        Progress progress(quiet_);
        // The agent captures and symbolizes in the process before it sends anything.
        progress.stage("process " + std::to_string(pid_) + " is capturing and symbolizing its snapshot");
        model::Snapshot snap;
        const int rc = receive(client, &snap, &error);
        client.close();
        if (attached_here) {
            std::string socket, why;
            if (!inject::detach(pid_, &socket, &why)) std::fprintf(stderr, "nmleak: warning: %s\n", text::escape(why).c_str());
        }
        if (rc != kExitOk) return fail(error);
        progress.stage("writing " + output_);
        if (!snapshot_io::write_file(snap, output_, &error)) return fail(error);
        progress.clear();
        if (quiet_) return kExitOk;

        uint64_t open = 0, blocks = 0, bytes = 0, cleanups = 0;
        for (const auto &e : snap.experts) {
            if (e.state != model::ExpertState::Closed) {
                ++open;
                blocks += e.live_blocks;
                bytes += e.live_bytes;
            }
            cleanups += e.cleanups.size();
        }
        std::fprintf(stderr,
                     "nmleak: wrote %s: process %d, %zu keys (%llu open), %llu live blocks (%s), %llu cleanups; "
                     "%.2f s\n",
                     text::escape(output_).c_str(), snap.process.pid, snap.experts.size(), static_cast<unsigned long long>(open),
                     static_cast<unsigned long long>(blocks), inject::human_bytes(bytes).c_str(),
                     static_cast<unsigned long long>(cleanups), now_s() - start);
        return kExitOk;
    }

private:
    int receive(proto::Client &client, model::Snapshot *out, std::string *error) {
        for (;;) {
            proto::Message m;
            const proto::ReadStatus st = client.read(&m, int(timeout_s_ * 1000), error);
            if (st == proto::ReadStatus::Timeout) {
                *error = "no snapshot from process " + std::to_string(pid_) + " within " +
                         std::to_string(int(timeout_s_)) + " s";
                return kExitUsage;
            }
            if (st != proto::ReadStatus::Message) return kExitUsage;
            if (m.type == proto::MessageType::Snapshot) {
                *out = std::move(m.snapshot);
                return kExitOk;
            }
            if (m.type == proto::MessageType::Error) {
                *error = "the agent refused: " + m.error.message;
                return kExitUsage;
            }
            if (m.type == proto::MessageType::Bye) {
                *error = "the agent stopped: " + m.bye_reason;
                return kExitUsage;
            }
        }
    }

    int pid_ = 0;
    std::string output_, socket_;
    bool no_blocks_ = false, attach_ = false, quiet_ = false;
    double timeout_s_ = 60;
};

} // namespace

NM_CLI_VERB(SnapshotVerb, "snapshot", "Save a live process's snapshot (through its agent)", 35);

} // namespace nm::cli

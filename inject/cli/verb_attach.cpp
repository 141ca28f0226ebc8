// verb_attach.cpp - `nmleak attach PID`: inject the agent into a running analyzer (ptrace).
#include "verb.hpp"

#include <nmleak/text.hpp>

#include "live_target.hpp"

#include <cstdio>

namespace nm::cli {
namespace {

class AttachVerb final : public Verb {
public:
    void configure(CLI::App &cmd) override {
        cmd.add_option("PID", pid_, "Process to attach to: any running program of glibc (libnmapi or not)")->required();
        cmd.add_option("--thread", tid_,
                       "Borrow this thread for the injected calls (default: one blocked in a system call)");
        cmd.add_flag("--no-heap", no_heap_,
                     "Only start the agent (a process with libnmapi): do not observe malloc/new");
        cmd.add_flag("-q,--quiet", quiet_, "Print nothing on success");
        cmd.footer("Stops one thread of PID for a few milliseconds (ptrace), loads libnmleak-agent.so into it and "
                   "starts the agent; every other thread keeps running. The agent then serves "
                   "$XDG_RUNTIME_DIR/nmleak/nmleak-PID.sock (or /tmp/nmleak-UID/) to the same user and root. "
                   "libnmapi records from the first call, so clients see the whole history.\n"
                   "Unless --no-heap, the agent also redirects the GOT entries of malloc, free, the rest of the "
                   "malloc family and operator new/delete in every loaded module (and modules loaded later): "
                   "the process keeps glibc's allocator and each block made from then on is recorded, charged "
                   "to its module's key. Memory from before the attach is foreign. 'nmleak detach' puts every "
                   "entry back. Refused: static, set-user-ID and set-group-ID executables, another allocator.\n"
                   "Needs ptrace rights over PID: same user (and Yama ptrace_scope 0) or root.\n"
                   "Exit status: 0 attached (or an agent was already running), 1 failed.");
    }

    int run() override {
        inject::AttachOutcome out;
        std::string error;
        if (!inject::attach(pid_, tid_, &out, &error, !no_heap_)) return fail(error);
        if (quiet_) return kExitOk;
        if (out.was_running && !out.inject.tid) {
            std::printf("nmleak: process %d already has an agent: %s\n", pid_, text::escape(out.socket).c_str());
            return kExitOk;
        }
        std::printf("nmleak: attached to %d (%s): agent listening on %s\n", pid_,
                    text::escape(out.hello.command).c_str(), text::escape(out.socket).c_str());
        std::printf("nmleak: thread %d (%s) was stopped %.1f ms in all (%d interrupt%s); %s; %.1f ms end to end\n",
                    int(out.inject.tid), out.inject.thread_state.c_str(), out.inject.stopped_ms, out.inject.tries,
                    out.inject.tries == 1 ? "" : "s",
                    out.inject.loaded_library ? "library loaded" : "library was loaded already",
                    out.total_ms);
        if (!out.inject.heap_status.empty())
            std::printf("nmleak: %s\n", text::escape(out.inject.heap_status).c_str());
        return kExitOk;
    }

private:
    int pid_ = 0;
    int tid_ = 0;
    bool quiet_ = false;
    bool no_heap_ = false;
};

} // namespace

NM_CLI_VERB(AttachVerb, "attach", "Inject the agent into a running analyzer (ptrace)", 20);

} // namespace nm::cli

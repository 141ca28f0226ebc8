// verb_detach.cpp - `nmleak detach PID`: ask a process's agent to stop.
#include "verb.hpp"

#include <nmleak/text.hpp>

#include "live_target.hpp"

#include <cstdio>

namespace nm::cli {
namespace {

class DetachVerb final : public Verb {
public:
    void configure(CLI::App &cmd) override {
        cmd.add_option("PID", pid_, "Process whose agent should stop")->required();
        cmd.add_flag("-q,--quiet", quiet_, "Print nothing on success");
        cmd.footer("The agent says goodbye to its clients, closes its socket (the file is removed) and its thread "
                   "ends. If the attach observed the heap, every redirected GOT entry is put back first and the "
                   "observed blocks are forgotten. libnmleak-agent.so stays mapped but inert, and libnmapi keeps "
                   "tracking: 'nmleak attach PID' starts the agent again without loading anything.\n"
                   "Exit status: 0 stopped, 1 failed (no agent, no such process, ...).");
    }

    int run() override {
        std::string socket, error;
        if (!inject::detach(pid_, &socket, &error)) return fail(error);
        if (!quiet_)
            std::printf("nmleak: agent in %d stopped and %s removed; heap hooks (if any) removed; "
                        "libnmleak-agent.so stays mapped (inert), libnmapi keeps tracking\n",
                        pid_, text::escape(socket).c_str());
        return kExitOk;
    }

private:
    int pid_ = 0;
    bool quiet_ = false;
};

} // namespace

NM_CLI_VERB(DetachVerb, "detach", "Stop the agent in a process (it keeps running, unchanged)", 21);

} // namespace nm::cli

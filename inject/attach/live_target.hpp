// live_target.hpp - what the agent verbs (run, attach, detach, ps, snapshot) share: finding the
// agent library, connecting with errors that say what to do next, starting and stopping agents.
#pragma once

#include "injector.hpp"

#include <nmleak/protocol.hpp>

#include <sys/types.h>

#include <string>

namespace nm::inject {

// The absolute, resolved path of libnmleak-agent.so: $NMLEAK_AGENT_PATH, else next to this nmleak
// (build tree: agent/), else the install library directory, else the path it was built at.
std::string find_agent_library(std::string *error);

// proto::Client::connect, with the failure explained: no such process, not an nmleak process,
// "uses libnmapi but has no agent: run 'nmleak attach PID'", the agent's own refusal.
bool connect_agent(pid_t pid, const proto::ConnectOptions &options, proto::Client *client, std::string *error);

struct AttachOutcome {
    bool was_running = false; // an agent answered already: nothing was injected
    InjectResult inject;
    double total_ms = 0;      // from start to the agent answering on its socket
    std::string socket;
    proto::Hello hello;
};

// Starts an agent in `pid` unless one answers already, then waits (up to 5 s) for its socket.
// heap: observe the whole heap too (InjectOptions::heap).
bool attach(pid_t pid, pid_t tid, AttachOutcome *out, std::string *error, bool heap = true);

// "812 B", "17.1 KiB", "3.0 MiB".
std::string human_bytes(uint64_t bytes);

// Asks pid's agent to stop and waits until its connection and socket file are gone.
bool detach(pid_t pid, std::string *socket_path, std::string *error);

} // namespace nm::inject

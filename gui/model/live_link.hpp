// live_link.hpp - what the session needs from a live connection to an agent, whatever the protocol looks like.
//
// A LiveLink is used by one thread only (the session's reader thread). receive() waits at most
// timeout_ms so that thread can also serve commands and notice a stop request; it hands out whole
// snapshots, having applied any incremental updates the protocol sends.
#pragma once

#include <nmleak/model.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace nm::gui {

class LiveLink {
public:
    enum class Recv { Snapshot, Timeout, Closed, Error };

    virtual ~LiveLink() = default;
    // Connects to the agent of `pid` and handshakes. False with a one-line *error: no agent socket,
    // refused, wrong version, permission.
    virtual bool connect(int pid, std::string *error) = 0;
    // The target's command line, from the handshake (empty when unknown).
    virtual std::string peer_command() const = 0;
    // Snapshot: *out holds the newest full state. Closed: the agent went away (the process exited
    // or detached). Error: the stream was bad; *error says why.
    virtual Recv receive(model::Snapshot *out, int timeout_ms, std::string *error) = 0;
    virtual bool request_snapshot(std::string *error) = 0;
    virtual bool request_terminate(uint64_t expert_id, std::string *error) = 0;
    // Asks the agent to stop serving and closes the connection.
    virtual void detach() = 0;
};

// The protocol-backed link, or (in a build without the live protocol) one whose connect() fails
// and says so.
std::unique_ptr<LiveLink> make_live_link();
// True when make_live_link() can really connect.
bool live_protocol_available();

// The `nmleak` executable that injects the agent (`nmleak attach PID`): $NMLEAK_BIN, next to this
// executable, ../inject/nmleak in the build tree, then $PATH. Empty when none is found.
std::string find_nmleak_binary();
// Runs `nmleak attach PID` (waits up to timeout_ms). False with its output in *error.
bool inject_agent(int pid, int timeout_ms, std::string *error);

} // namespace nm::gui

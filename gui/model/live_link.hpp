// live_link.hpp - the session's view of a live connection to an agent (nmleak/protocol.hpp underneath).
//
// A LiveLink is used by one thread only (the session's reader thread). poll() waits at most
// timeout_ms so that thread can also serve commands and notice a stop request. The link keeps the
// merged state (the last full snapshot plus every update since); copy_state() hands out a copy
// when the session is ready to build a model from it, so fast updates cost no copies.
#pragma once

#include <nmleak/model.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace nm::gui {

class LiveLink {
public:
    enum class Event {
        Changed, // a snapshot or update was applied: copy_state() has news
        Timeout, // nothing arrived
        Note,    // a command's reply: *text, *ok
        Closed,  // the agent went away (process exited, agent stopped); *text says why when known
        Error,   // bad bytes, refusal, socket error; the connection is closed; *text says why
    };

    virtual ~LiveLink() = default;
    // Connects to the agent of `pid` and handshakes. False with a one-line *error that says what
    // to do: no such process, not using libnmapi, no agent yet (attach), refused, wrong version.
    virtual bool connect(int pid, std::string *error) = 0;
    virtual std::string peer_command() const = 0;
    virtual Event poll(int timeout_ms, std::string *text, bool *ok) = 0;
    virtual void copy_state(model::Snapshot *out) const = 0;
    // When (tracker ms) the live blocks in the state were taken: updates carry per-key figures
    // only, so blocks, stacks of live blocks and trees are as of the last full snapshot.
    virtual uint64_t blocks_ms() const = 0;
    // A full snapshot with live blocks (updates carry per-key figures only).
    virtual bool request_snapshot(std::string *error) = 0;
    virtual bool request_terminate(uint64_t expert_id, const std::string &name, std::string *error) = 0;
    // Stops the agent in the target (the library stays loaded); the connection then closes.
    virtual bool request_detach(std::string *error) = 0;
    virtual void close() = 0;
};

std::unique_ptr<LiveLink> make_live_link();
bool live_protocol_available();

// Outstanding bytes of every key of `pid`, asked of its agent (a short-lived connection without
// blocks). False when it has no agent or does not answer within timeout_ms.
bool query_live_bytes(int pid, int timeout_ms, uint64_t *bytes);

// The `nmleak` executable that injects the agent (`nmleak attach PID`): $NMLEAK_BIN, next to this
// executable, ../inject/nmleak in the build tree, then $PATH. Empty when none is found.
std::string find_nmleak_binary();
// Runs `nmleak attach PID` (waits up to timeout_ms). False with its last output line in *error.
bool inject_agent(int pid, int timeout_ms, std::string *error);

} // namespace nm::gui

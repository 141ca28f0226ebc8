// session.hpp - one client connection of the agent: its socket, input frames, output queue, and
// what it was last told (live::Baseline).
#pragma once

#include <nmleak/live.hpp>
#include <nmleak/protocol.hpp>

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace nm::agent {

class Session {
public:
    enum class State {
        AwaitHello, // accepted; the client's first frame must be a valid ClientHello
        Active,     // hello done: commands and, if subscribed, updates
        Closing,    // an Error or Bye is queued: no more reading, close once flushed
    };
    enum class Io { Ok, Closed };

    Session(int fd, pid_t peer_pid, uid_t peer_uid, int64_t now_ms);
    ~Session();
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    int fd() const { return fd_; }
    pid_t peer_pid() const { return peer_pid_; }
    uid_t peer_uid() const { return peer_uid_; }
    State state() const { return state_; }
    void set_state(State s) { state_ = s; }
    int64_t accepted_ms() const { return accepted_ms_; }

    // Output. Frames are queued whole and written as the socket takes them: the agent never
    // blocks on a client.
    void queue(std::vector<uint8_t> frame);
    size_t queued_bytes() const { return out_bytes_; }
    // Writes what the socket takes now. Closed when the peer is gone.
    Io flush(int64_t now_ms);
    // Milliseconds since output last made progress while some was pending (0 when idle).
    int64_t stalled_ms(int64_t now_ms) const;
    // When the client last sent us bytes, and when we last wrote it some (accept time until then).
    int64_t last_input_ms() const { return last_input_ms_; }
    int64_t last_write_ms() const { return last_write_ms_; }
    // Bytes written to the socket that the client has not read yet (SIOCOUTQ).
    size_t unread_by_peer() const;
    // Notes whether the client has read everything written so far; last time it had.
    void check_caught_up(int64_t now_ms) {
        if (out_.empty() && unread_by_peer() == 0) last_caught_up_ms_ = now_ms;
    }
    int64_t last_caught_up_ms() const { return last_caught_up_ms_; }

    // Input: reads what is available (at most `budget` bytes) into the frame reader. Closed on
    // EOF or a socket error; a malformed stream is reported through reader().failed().
    Io read_some(size_t budget, int64_t now_ms, std::string *error);
    proto::FrameReader &reader() { return reader_; }
    bool peer_finished() const { return peer_eof_; }

    // Queues an Error frame and moves to Closing.
    void fail(proto::ErrorCode code, const std::string &message);
    // The socket is unusable (peer gone, I/O error): drop the session without writing more.
    void mark_dead() { dead_ = true; }
    bool dead() const { return dead_; }

    // Set by the ClientHello.
    bool subscribed = false;
    std::string client_name;
    live::Baseline baseline;
    uint32_t update_seq = 0;

private:
    int fd_;
    pid_t peer_pid_;
    uid_t peer_uid_;
    State state_ = State::AwaitHello;
    int64_t accepted_ms_;
    proto::FrameReader reader_{proto::kMaxClientPayload};
    bool peer_eof_ = false;
    bool dead_ = false;

    struct Chunk {
        std::vector<uint8_t> bytes;
        size_t sent = 0;
    };
    std::deque<Chunk> out_;
    size_t out_bytes_ = 0;
    int64_t last_progress_ms_;
    int64_t last_input_ms_, last_write_ms_, last_caught_up_ms_;
};

} // namespace nm::agent

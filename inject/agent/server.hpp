// server.hpp - the agent's socket server: one thread, one poll loop, every client non-blocking.
#pragma once

#include <nmleak/live.hpp>
#include <nmleak/protocol.hpp>

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nm::agent {

class Session;

struct ServerConfig {
    uint32_t update_interval_ms = 200;
    size_t max_clients = 16;
    bool log = false; // NMLEAK_AGENT_LOG=1: one stderr line per connection event
};

class Server {
public:
    explicit Server(ServerConfig config);
    ~Server();
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    // Creates the private directory, binds nmleak-PID.sock and listens. Runs on the thread that
    // starts the agent (in `attach`, the interrupted target thread): system calls only, no tracker.
    bool open(std::string *error);
    // The loop, on the agent thread. Returns when stop() is called or a client asked to detach.
    void run();
    // From any thread; async-signal-safe (one write(2) to an eventfd).
    void stop() noexcept;
    // Says goodbye to the clients (bounded wait), closes every socket and unlinks ours.
    void close(const std::string &reason);
    // In a child after fork(): drop our copies of the descriptors without touching the socket file
    // or the clients, which belong to the parent.
    void abandon_after_fork() noexcept;

    const std::string &socket_path() const { return path_; }
    bool detach_requested() const { return detach_requested_; }
    const std::string &stop_reason() const { return stop_reason_; }

private:
    void accept_clients(int64_t now);
    size_t live_sessions() const;
    bool make_room(int64_t now);
    void serve(Session &s, short revents, int64_t now);
    void handle_frame(Session &s, const proto::Frame &f);
    void handle_hello(Session &s, const proto::Frame &f);
    void handle_command(Session &s, const proto::Message &m);
    void send_snapshot(Session &s, uint32_t seq, bool blocks);
    void send_reply(Session &s, uint32_t seq, proto::ReplyStatus status, const std::string &message);
    void tick(int64_t now);
    void reap(int64_t now);
    void log(const char *fmt, ...) __attribute__((format(printf, 2, 3)));

    ServerConfig config_;
    std::string path_;
    dev_t sock_dev_ = 0; // the socket file we bound, so close() unlinks only that one
    ino_t sock_ino_ = 0;
    int listen_fd_ = -1;
    int wake_fd_ = -1;
    std::vector<std::unique_ptr<Session>> sessions_;
    live::Source source_;
    int64_t next_tick_ms_ = 0;
    int64_t refresh_cost_ms_ = 0; // duration of the last live::Source::refresh()
    int64_t accept_paused_until_ = 0;
    bool detach_requested_ = false;
    std::string stop_reason_;
};

} // namespace nm::agent

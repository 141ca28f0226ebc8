// server.cpp - the agent's poll loop: accept and vet clients, answer commands, stream updates.
//
// Everything here runs on the agent thread except open() and stop(). The analyzer's own threads
// never wait for it: the tracker is read with the same lock-free/short-lock paths a snapshot uses,
// and every socket is non-blocking, so a slow or dead client only fills its own output queue.
// A client whose queue is not empty gets no new update that tick; its next update then covers
// everything since its last one (coalescing), so a slow client costs memory for one frame, not a
// backlog.
#include "server.hpp"
#include "session.hpp"

#include <nmleak/protocol.hpp>
#include <nmleak/text.hpp>
#include <nmleak/sys.hpp>

#include "netmon.h"
#include "nmhost.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#ifndef NMLEAK_VERSION
#define NMLEAK_VERSION "0.0.0"
#endif

namespace nm::agent {
namespace {

constexpr size_t kReadBudget = 64 * 1024;         // per client per wake-up
constexpr size_t kPauseReadingAt = 1 << 20;       // a client that does not read its replies...
constexpr size_t kBusyAt = 256 * 1024;            // ...or still has a snapshot to take: Busy
constexpr int64_t kStallLimitMs = 30000;          // no output progress for this long: drop
constexpr int64_t kCloseFlushMs = 1000;           // goodbye frames get this long to go out
constexpr int64_t kIdleLimitMs = 30000;           // not subscribed and silent for this long: drop
constexpr int64_t kYieldAfterMs = 2000;           // silent for this long: gives its place to a newcomer

int64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Same user, or root. Both the real and the effective uid count, so a setuid analyzer can still be
// inspected by whoever started it.
bool peer_allowed(uid_t uid) { return uid == 0 || uid == ::geteuid() || uid == ::getuid(); }

} // namespace

Server::Server(ServerConfig config) : config_(config) {}

Server::~Server() {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Server::log(const char *fmt, ...) {
    if (!config_.log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    // Lines quote client names and paths: escaped for the analyzer's terminal.
    std::fprintf(stderr, "nmleak-agent[%d]: %s\n", int(::getpid()), nm::text::escape(line).c_str());
}

bool Server::open(std::string *error) {
    const uid_t uid = ::geteuid();
    const std::string dir = proto::socket_dir(uid, std::getenv("XDG_RUNTIME_DIR"));
    if (!proto::ensure_private_dir(dir, uid, error)) return false;
    path_ = dir + "/" + proto::socket_name(::getpid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) {
        *error = "socket path too long: " + path_;
        return false;
    }
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);

    // A socket file with our pid in its name is left over from an earlier process with this pid
    // (killed before it could clean up) or from an agent of ours that did not: ours to replace.
    struct stat st;
    if (::lstat(path_.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *error = path_ + " exists and is not a socket";
            return false;
        }
        ::unlink(path_.c_str());
    }
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) {
        *error = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    if (::bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        *error = "bind " + path_ + ": " + std::strerror(errno);
        return false;
    }
    // The directory already keeps others out; 0600 is the second fence. (umask is process-wide
    // and the analyzer's threads are running: it is not ours to change.)
    ::chmod(path_.c_str(), 0600);
    if (::lstat(path_.c_str(), &st) == 0) {
        sock_dev_ = st.st_dev;
        sock_ino_ = st.st_ino;
    }
    if (::listen(listen_fd_, 16) != 0) {
        *error = std::string("listen: ") + std::strerror(errno);
        ::unlink(path_.c_str());
        return false;
    }
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        *error = std::string("eventfd: ") + std::strerror(errno);
        ::unlink(path_.c_str());
        return false;
    }
    return true;
}

void Server::stop() noexcept {
    const uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
}

void Server::run() {
    next_tick_ms_ = now_ms() + config_.update_interval_ms;
    std::vector<pollfd> fds;
    for (;;) {
        int64_t now = now_ms();
        fds.clear();
        fds.push_back({wake_fd_, POLLIN, 0});
        fds.push_back({now >= accept_paused_until_ ? listen_fd_ : -1, POLLIN, 0});
        for (auto &s : sessions_) {
            short events = 0;
            if (s->state() != Session::State::Closing && !s->peer_finished() &&
                s->queued_bytes() < kPauseReadingAt)
                events |= POLLIN;
            if (s->queued_bytes() > 0) events |= POLLOUT;
            fds.push_back({s->fd(), events, 0});
        }
        int timeout = int(std::max<int64_t>(0, next_tick_ms_ - now));
        if (!sessions_.empty()) timeout = std::min(timeout, 1000); // hello and stall deadlines
        if (now < accept_paused_until_) timeout = std::min<int>(timeout, int(accept_paused_until_ - now));
        const int r = ::poll(fds.data(), fds.size(), timeout);
        if (r < 0 && errno != EINTR) {
            stop_reason_ = std::string("poll failed: ") + std::strerror(errno);
            return;
        }
        now = now_ms();
        if (r > 0 && (fds[0].revents & POLLIN)) {
            stop_reason_ = "the agent was stopped";
            return;
        }
        // Existing clients first (a hang-up frees its place), then new ones.
        for (size_t i = 0; i + 2 < fds.size(); ++i)
            if (r > 0 && fds[i + 2].revents) serve(*sessions_[i], fds[i + 2].revents, now);
        reap(now);
        if (r > 0 && (fds[1].revents & POLLIN)) accept_clients(now);
        if (now >= next_tick_ms_) {
            tick(now);
            // Reading the tracker costs O(keys, closed ones included). When that is slow (a long
            // history), ticks space out so the agent stays under ~10% of one core.
            next_tick_ms_ = now + std::max<int64_t>(config_.update_interval_ms, 10 * refresh_cost_ms_);
        }
        reap(now);
        if (detach_requested_) {
            stop_reason_ = "detached at a client's request";
            return;
        }
    }
}

void Server::accept_clients(int64_t now) {
    for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            // Out of descriptors: the listening socket stays readable, so look away for a moment
            // instead of spinning.
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_paused_until_ = now + 100;
            return;
        }
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
            ::close(fd);
            continue;
        }
        auto s = std::make_unique<Session>(fd, cred.pid, cred.uid, now);
        if (!peer_allowed(cred.uid)) {
            log("refused pid %d: uid %u", int(cred.pid), unsigned(cred.uid));
            s->fail(proto::ErrorCode::PeerRefused,
                    "uid " + std::to_string(cred.uid) + " may not inspect this process (owner uid " +
                        std::to_string(::geteuid()) + "; only the same user or root may)");
        } else if (live_sessions() >= config_.max_clients && !make_room(now)) {
            s->fail(proto::ErrorCode::TooManyClients,
                    "too many clients: " + std::to_string(config_.max_clients) +
                        " are connected and active; try again when one disconnects (idle ones give way after " +
                        std::to_string(kYieldAfterMs / 1000) + " s)");
        } else {
            proto::Hello h;
            h.pid = int32_t(::getpid());
            h.uid = ::geteuid();
            h.update_interval_ms = config_.update_interval_ms;
            h.stack_depth = source_.stack_depth();
            h.start_unix_ms = source_.start_unix_ms();
            h.command = sys::proc_cmdline(0);
            h.executable = sys::proc_exe(0);
            h.agent_version = NMLEAK_VERSION;
            std::vector<uint8_t> frame;
            proto::encode_hello(h, &frame);
            s->queue(std::move(frame));
            log("client pid %d uid %u connected", int(cred.pid), unsigned(cred.uid));
        }
        if (s->flush(now) == Session::Io::Closed) s->mark_dead();
        sessions_.push_back(std::move(s));
    }
}

// A session is idle when it has sent nothing for kYieldAfterMs and is not being served either: no
// hello yet, nothing on its way to it (a snapshot being sent), and not a subscriber that reads
// what it is sent. The most idle one gives its place to a newcomer; a watcher that keeps reading
// its updates never does.
bool Server::make_room(int64_t now) {
    Session *victim = nullptr;
    for (auto &sp : sessions_) {
        Session &s = *sp;
        if (s.dead() || s.state() == Session::State::Closing || now - s.last_input_ms() < kYieldAfterMs) continue;
        s.check_caught_up(now);
        const bool sending = s.queued_bytes() > 0 && s.stalled_ms(now) < kYieldAfterMs; // e.g. a big snapshot
        const bool reading = s.state() == Session::State::Active && s.subscribed &&
                             now - s.last_caught_up_ms() < kYieldAfterMs;
        if (sending || reading) continue;
        // Rather one that can still be told why (a subscriber that does not read cannot), then
        // the one silent longest.
        auto rank = [](const Session &x) { return std::make_pair(x.subscribed, x.last_input_ms()); };
        if (!victim || rank(s) < rank(*victim)) victim = &s;
    }
    if (!victim) return false;
    log("client pid %d (fd %d%s) gives its place to a new client (idle)", int(victim->peer_pid()), victim->fd(),
        victim->subscribed ? ", subscribed" : "");
    victim->fail(proto::ErrorCode::Timeout,
                 "closed to make room for another client: nothing asked for " +
                     std::to_string((now - victim->last_input_ms()) / 1000) + " s while all " +
                     std::to_string(config_.max_clients) + " places were taken");
    return true;
}

size_t Server::live_sessions() const {
    // Sessions already saying goodbye (or gone) do not count against the limit.
    return size_t(std::count_if(sessions_.begin(), sessions_.end(), [](const std::unique_ptr<Session> &s) {
        return !s->dead() && s->state() != Session::State::Closing;
    }));
}

void Server::serve(Session &s, short revents, int64_t now) {
    if ((revents & POLLOUT) && s.flush(now) == Session::Io::Closed) return s.mark_dead();
    if (!(revents & (POLLIN | POLLHUP | POLLERR)) || s.state() == Session::State::Closing) return;
    std::string error;
    if (s.read_some(kReadBudget, now, &error) == Session::Io::Closed) return s.mark_dead();
    proto::Frame f;
    while (s.state() != Session::State::Closing && s.reader().next(&f)) handle_frame(s, f);
    if (s.reader().failed() && s.state() != Session::State::Closing) {
        log("client pid %d: %s", int(s.peer_pid()), error.c_str());
        s.fail(proto::ErrorCode::Protocol, error);
    }
    if (s.flush(now) == Session::Io::Closed) s.mark_dead();
}

void Server::handle_frame(Session &s, const proto::Frame &f) {
    if (s.state() == Session::State::AwaitHello) return handle_hello(s, f);
    if (!proto::is_known(uint16_t(f.type))) {
        // A newer client's command: say so and carry on. Anything else unknown is not a command.
        if ((uint16_t(f.type) & 0xfff0) == 0x0020 && f.seq != 0)
            return send_reply(s, f.seq, proto::ReplyStatus::Unsupported,
                              "command type " + std::to_string(unsigned(f.type)) + " is not supported");
        return s.fail(proto::ErrorCode::Protocol, "unknown frame type " + std::to_string(unsigned(f.type)));
    }
    proto::Message m;
    std::string error;
    if (!proto::is_command(f.type)) return s.fail(proto::ErrorCode::Protocol, std::string("a client may not send ") + proto::to_string(f.type));
    if (!proto::decode_message(f, &m, &error)) return s.fail(proto::ErrorCode::Protocol, error);
    handle_command(s, m);
}

void Server::handle_hello(Session &s, const proto::Frame &f) {
    proto::Message m;
    std::string error;
    if (f.type != proto::MessageType::ClientHello)
        return s.fail(proto::ErrorCode::Protocol, "the first frame must be ClientHello");
    if (!proto::decode_message(f, &m, &error)) {
        const bool version = error.find("version") != std::string::npos || error.find("magic") != std::string::npos;
        return s.fail(version ? proto::ErrorCode::Version : proto::ErrorCode::Protocol, error);
    }
    s.set_state(Session::State::Active);
    s.subscribed = m.client_hello.flags & proto::kHelloSubscribe;
    s.client_name = m.client_hello.client;
    if (!(m.client_hello.flags & proto::kHelloNoSnapshot))
        send_snapshot(s, 0, m.client_hello.flags & proto::kHelloBlocks);
}

void Server::send_snapshot(Session &s, uint32_t seq, bool blocks) {
    // full() resets the client's baseline to this snapshot, so the updates queued after it carry
    // only what happened later: the client applies frames in order.
    model::Snapshot snap = source_.full(blocks, &s.baseline);
    std::vector<uint8_t> frame;
    std::string error;
    if (!proto::encode_snapshot_frame(proto::MessageType::Snapshot, blocks ? proto::kSnapshotHasBlocks : 0, seq,
                                      snap, &frame, &error))
        return send_reply(s, seq, proto::ReplyStatus::Internal, error);
    s.queue(std::move(frame));
}

void Server::send_reply(Session &s, uint32_t seq, proto::ReplyStatus status, const std::string &message) {
    std::vector<uint8_t> frame;
    proto::encode_reply(seq, {status, message}, &frame);
    s.queue(std::move(frame));
}

void Server::handle_command(Session &s, const proto::Message &m) {
    using proto::MessageType;
    using proto::ReplyStatus;
    switch (m.type) {
    case MessageType::CmdSnapshot:
        if (s.queued_bytes() > kBusyAt)
            return send_reply(s, m.seq, ReplyStatus::Busy, "the previous snapshot is still being sent");
        return send_snapshot(s, m.seq, m.snapshot_flags & proto::kSnapshotWantBlocks);
    case MessageType::CmdTerminate: {
        const uint32_t rc = live::request_terminate_by_id(m.key_id);
        if (rc == NMERR_SUCCESS) {
            log("client pid %d: terminate requested for key %llu", int(s.peer_pid()),
                static_cast<unsigned long long>(m.key_id));
            return send_reply(s, m.seq, ReplyStatus::Ok, "");
        }
        return send_reply(s, m.seq, ReplyStatus::NoSuchKey, "no open key has id " + std::to_string(m.key_id));
    }
    case MessageType::CmdSetOptions: {
        const proto::Options &o = m.options;
        if ((o.mask & proto::kOptStackDepth) && o.stack_depth > NM_MAX_STACK_DEPTH)
            return send_reply(s, m.seq, ReplyStatus::InvalidArgument,
                              "stack depth must be 0.." + std::to_string(NM_MAX_STACK_DEPTH));
        if ((o.mask & proto::kOptUpdateInterval) &&
            (o.update_interval_ms < proto::kMinUpdateIntervalMs || o.update_interval_ms > proto::kMaxUpdateIntervalMs))
            return send_reply(s, m.seq, ReplyStatus::InvalidArgument,
                              "update interval must be " + std::to_string(proto::kMinUpdateIntervalMs) + ".." +
                                  std::to_string(proto::kMaxUpdateIntervalMs) + " ms");
        if (o.mask & proto::kOptStackDepth) NmSetStackDepth(o.stack_depth);
        if (o.mask & proto::kOptUpdateInterval) {
            // One interval for the whole agent: updates are computed once per tick for everyone.
            config_.update_interval_ms = o.update_interval_ms;
            next_tick_ms_ = std::min(next_tick_ms_, now_ms() + int64_t(o.update_interval_ms));
        }
        if (o.mask & proto::kOptSubscribe) s.subscribed = o.subscribe != 0;
        return send_reply(s, m.seq, ReplyStatus::Ok, "");
    }
    case MessageType::CmdDetach:
        log("client pid %d asked the agent to stop", int(s.peer_pid()));
        detach_requested_ = true;
        return send_reply(s, m.seq, ReplyStatus::Ok, "");
    case MessageType::CmdPing:
        return send_reply(s, m.seq, ReplyStatus::Ok, "");
    default:
        return s.fail(proto::ErrorCode::Protocol, "not a command");
    }
}

void Server::tick(int64_t now) {
    bool refreshed = false;
    for (auto &sp : sessions_) {
        Session &s = *sp;
        if (s.state() == Session::State::Active && s.subscribed) s.check_caught_up(now);
        // A client still busy with earlier frames is skipped: its baseline stays put, so its next
        // update covers everything since (coalescing).
        if (s.state() != Session::State::Active || !s.subscribed || s.queued_bytes() > 0) continue;
        if (!refreshed) {
            const int64_t t0 = now_ms();
            source_.refresh();
            refresh_cost_ms_ = now_ms() - t0;
            refreshed = true;
        }
        model::Snapshot update;
        if (!source_.delta(&s.baseline, &update)) continue;
        std::vector<uint8_t> frame;
        std::string error;
        if (!proto::encode_snapshot_frame(proto::MessageType::Update, 0, ++s.update_seq, update, &frame, &error))
            continue;
        s.queue(std::move(frame));
        if (s.flush(now) == Session::Io::Closed) s.mark_dead();
    }
}

void Server::reap(int64_t now) {
    for (auto &sp : sessions_) {
        Session &s = *sp;
        if (s.state() == Session::State::AwaitHello && now - s.accepted_ms() > proto::kHelloTimeoutMs)
            s.fail(proto::ErrorCode::Timeout, "no ClientHello within " + std::to_string(proto::kHelloTimeoutMs) + " ms");
        if (s.state() == Session::State::Active && !s.subscribed && s.queued_bytes() == 0 &&
            now - s.last_input_ms() > kIdleLimitMs)
            s.fail(proto::ErrorCode::Timeout, "idle: nothing asked for " + std::to_string(kIdleLimitMs / 1000) +
                                                  " s (subscribe to updates to stay connected)");
        if (s.peer_finished() && s.state() != Session::State::Closing) s.set_state(Session::State::Closing);
    }
    std::erase_if(sessions_, [&](const std::unique_ptr<Session> &sp) {
        const Session &s = *sp;
        if (s.dead()) return true;
        if (s.stalled_ms(now) > kStallLimitMs) {
            log("dropping client pid %d: it stopped reading", int(s.peer_pid()));
            return true;
        }
        if (s.state() != Session::State::Closing) return false;
        // Closing: gone once its last frame (Error) is out, or after the flush allowance.
        return s.queued_bytes() == 0 || s.stalled_ms(now) > kCloseFlushMs;
    });
}

void Server::close(const std::string &reason) {
    const int64_t start = now_ms();
    for (auto &s : sessions_) {
        if (s->state() == Session::State::Closing) continue;
        std::vector<uint8_t> frame;
        proto::encode_bye(reason, &frame);
        s->queue(std::move(frame));
        s->set_state(Session::State::Closing);
    }
    // Bounded goodbye: the analyzer may be exiting; a stuck client must not hold that up.
    for (;;) {
        std::vector<pollfd> fds;
        std::vector<Session *> waiting;
        for (auto &s : sessions_)
            if (s->queued_bytes() > 0 && s->flush(now_ms()) == Session::Io::Ok && s->queued_bytes() > 0) {
                fds.push_back({s->fd(), POLLOUT, 0});
                waiting.push_back(s.get());
            }
        const int64_t left = kCloseFlushMs - (now_ms() - start);
        if (fds.empty() || left <= 0) break;
        if (::poll(fds.data(), fds.size(), int(left)) < 0 && errno != EINTR) break;
    }
    sessions_.clear();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    // Unlink only the file we bound: a new agent of this pid may already have replaced it.
    struct stat st;
    if (!path_.empty() && ::lstat(path_.c_str(), &st) == 0 && st.st_dev == sock_dev_ && st.st_ino == sock_ino_)
        ::unlink(path_.c_str());
}

void Server::abandon_after_fork() noexcept {
    // Only close(2): the child of a fork may call async-signal-safe functions only. The Session
    // objects (and their memory) are leaked on purpose, their descriptors closed by hand.
    for (auto &s : sessions_) {
        ::close(s->fd());
        (void)s.release();
    }
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    listen_fd_ = wake_fd_ = -1;
}

} // namespace nm::agent

// client.cpp - nm::proto::Client: finds an agent's socket, checks who answers, talks frames.
#include <nmleak/protocol.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nm::proto {
namespace {

int64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Milliseconds left until `deadline` (-1: none), for poll().
int left_ms(int64_t deadline) {
    if (deadline < 0) return -1;
    return int(std::max<int64_t>(0, deadline - now_ms()));
}

int64_t deadline_in(int timeout_ms) { return timeout_ms < 0 ? -1 : now_ms() + timeout_ms; }

bool fail(std::string *error, std::string why) {
    if (error) *error = std::move(why);
    return false;
}

std::string dir_of(const std::string &path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

} // namespace

struct Client::Impl {
    int fd = -1;
    pid_t pid = 0;
    Hello hello;
    std::string path;
    FrameReader reader{kMaxServerPayload};
    std::deque<Message> pending; // read while waiting for a reply; handed out by read() first
    uint32_t next_seq = 1;
    std::vector<uint8_t> scratch;

    ~Impl() { close(); }

    void close() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }

    // Writes all of `bytes`; the socket is non-blocking, so wait for room up to the deadline.
    bool send_all(const std::vector<uint8_t> &bytes, int64_t deadline, std::string *error) {
        if (fd < 0) return fail(error, "not connected");
        size_t at = 0;
        while (at < bytes.size()) {
            // MSG_NOSIGNAL: a dead agent must give EPIPE here, not kill the client with SIGPIPE.
            const ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
            if (n > 0) {
                at += size_t(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                pollfd p{fd, POLLOUT, 0};
                const int r = ::poll(&p, 1, left_ms(deadline));
                if (r == 0) return fail(error, "timed out sending to the agent");
                if (r < 0 && errno != EINTR) return fail(error, std::string("poll: ") + std::strerror(errno));
                continue;
            }
            const int err = errno;
            close();
            return fail(error, std::string("lost the connection to the agent: ") + std::strerror(err));
        }
        return true;
    }

    // The next message from the socket itself (never from `pending`).
    ReadStatus read_socket(Message *out, int64_t deadline, std::string *error) {
        for (;;) {
            Frame frame;
            if (reader.next(&frame)) {
                if (!decode_message(frame, out, error)) {
                    close();
                    return ReadStatus::Failed;
                }
                if (is_command(out->type) || out->type == MessageType::ClientHello) {
                    close();
                    fail(error, std::string("the agent sent a ") + to_string(out->type) + " frame");
                    return ReadStatus::Failed;
                }
                return ReadStatus::Message;
            }
            if (fd < 0) {
                fail(error, "not connected");
                return ReadStatus::Closed;
            }
            pollfd p{fd, POLLIN, 0};
            const int r = ::poll(&p, 1, left_ms(deadline));
            if (r == 0) return ReadStatus::Timeout;
            if (r < 0) {
                if (errno == EINTR) continue;
                fail(error, std::string("poll: ") + std::strerror(errno));
                return ReadStatus::Failed;
            }
            scratch.resize(256 * 1024);
            const ssize_t n = ::recv(fd, scratch.data(), scratch.size(), 0);
            if (n == 0) {
                close();
                fail(error, "the agent closed the connection");
                return ReadStatus::Closed;
            }
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
                const int err = errno;
                close();
                fail(error, std::string("recv: ") + std::strerror(err));
                return err == ECONNRESET ? ReadStatus::Closed : ReadStatus::Failed;
            }
            if (!reader.feed({scratch.data(), size_t(n)}, error)) {
                close();
                return ReadStatus::Failed;
            }
        }
    }

    // Tries one socket path: connect, check the peer, read Hello, send ClientHello.
    bool open_one(const std::string &p, pid_t want_pid, const ConnectOptions &options, int64_t deadline,
                  int *errno_out, std::string *error) {
        *errno_out = 0;
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (p.size() >= sizeof addr.sun_path) return fail(error, "socket path too long: " + p);
        std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return fail(error, std::string("socket: ") + std::strerror(errno));
        if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
            *errno_out = errno;
            const std::string why = p + ": " + std::strerror(errno);
            close();
            return fail(error, why);
        }
        // A socket file can outlive its process and a pid can be reused: only talk to the process
        // that was asked for.
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
            close();
            return fail(error, std::string("SO_PEERCRED: ") + std::strerror(errno));
        }
        if (want_pid > 0 && cred.pid != want_pid) {
            close();
            return fail(error, p + " is served by process " + std::to_string(cred.pid) + ", not " +
                                   std::to_string(want_pid));
        }
        Message m;
        std::string why;
        const ReadStatus st = read_socket(&m, deadline, &why);
        if (st == ReadStatus::Timeout) {
            close();
            return fail(error, "the agent at " + p + " did not say hello in time");
        }
        if (st != ReadStatus::Message) {
            close();
            return fail(error, "handshake with " + p + " failed: " + why);
        }
        if (m.type == MessageType::Error) {
            close();
            return fail(error, "the agent refused the connection: " + m.error.message);
        }
        if (m.type != MessageType::Hello) {
            close();
            return fail(error, std::string("the agent spoke first with ") + to_string(m.type) + ", not Hello");
        }
        hello = m.hello;
        ClientHello ch;
        ch.flags = options.hello_flags;
        ch.client = options.client_name;
        std::vector<uint8_t> bytes;
        encode_client_hello(ch, &bytes);
        if (!send_all(bytes, deadline, error)) return false;
        path = p;
        pid = cred.pid;
        return true;
    }

    uint32_t send_command(std::vector<uint8_t> bytes, uint32_t seq, std::string *error) {
        return send_all(bytes, deadline_in(5000), error) ? seq : 0;
    }
    uint32_t take_seq() {
        const uint32_t s = next_seq++;
        if (next_seq == 0) next_seq = 1;
        return s;
    }
};

Client::Client() : d_(std::make_unique<Impl>()) {}
Client::~Client() = default;
Client::Client(Client &&) noexcept = default;
Client &Client::operator=(Client &&) noexcept = default;

bool Client::connect(pid_t pid, const ConnectOptions &options, std::string *error) {
    d_ = std::make_unique<Impl>();
    const int64_t deadline = deadline_in(options.timeout_ms);
    std::vector<std::string> paths;
    if (!options.socket_path.empty()) {
        paths.push_back(options.socket_path);
    } else {
        if (::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0)
            return fail(error, "no process " + std::to_string(pid));
        paths = socket_candidates(pid);
    }
    uid_t uid = ::geteuid();
    process_uid(pid, &uid);
    std::string tried, first_real_error;
    for (const std::string &p : paths) {
        if (options.socket_path.empty()) {
            // Never follow a socket through a directory another user controls.
            std::string why;
            if (::access(p.c_str(), F_OK) != 0) {
                tried += (tried.empty() ? "" : ", ") + p;
                continue;
            }
            if (!check_private_dir(dir_of(p), uid, &why)) {
                if (first_real_error.empty()) first_real_error = why;
                continue;
            }
        }
        int err = 0;
        std::string why;
        if (d_->open_one(p, options.socket_path.empty() ? pid : 0, options, deadline, &err, &why)) return true;
        if (err == ENOENT) {
            tried += (tried.empty() ? "" : ", ") + p;
            continue;
        }
        if (err == ECONNREFUSED)
            why = p + " is a stale socket (no agent listening: the agent was stopped or the process "
                      "was killed)";
        if (first_real_error.empty()) first_real_error = why;
    }
    if (!first_real_error.empty()) return fail(error, first_real_error);
    return fail(error, "process " + std::to_string(pid) + " has no nmleak agent listening (looked for " +
                           tried + ")");
}

void Client::close() { d_->close(); }
bool Client::connected() const { return d_->fd >= 0; }
const Hello &Client::hello() const { return d_->hello; }
const std::string &Client::socket_path() const { return d_->path; }
int Client::fd() const { return d_->fd; }

ReadStatus Client::read(Message *out, int timeout_ms, std::string *error) {
    if (!d_->pending.empty()) {
        *out = std::move(d_->pending.front());
        d_->pending.pop_front();
        return ReadStatus::Message;
    }
    return d_->read_socket(out, deadline_in(timeout_ms), error);
}

uint32_t Client::send_snapshot_request(bool include_blocks, std::string *error) {
    std::vector<uint8_t> b;
    const uint32_t seq = d_->take_seq();
    encode_cmd_snapshot(seq, include_blocks ? kSnapshotWantBlocks : 0, &b);
    return d_->send_command(std::move(b), seq, error);
}

uint32_t Client::send_terminate(uint64_t key_id, std::string *error) {
    std::vector<uint8_t> b;
    const uint32_t seq = d_->take_seq();
    encode_cmd_terminate(seq, key_id, &b);
    return d_->send_command(std::move(b), seq, error);
}

uint32_t Client::send_options(const Options &options, std::string *error) {
    std::vector<uint8_t> b;
    const uint32_t seq = d_->take_seq();
    encode_cmd_set_options(seq, options, &b);
    return d_->send_command(std::move(b), seq, error);
}

uint32_t Client::send_detach(std::string *error) {
    std::vector<uint8_t> b;
    const uint32_t seq = d_->take_seq();
    encode_cmd_simple(MessageType::CmdDetach, seq, &b);
    return d_->send_command(std::move(b), seq, error);
}

uint32_t Client::send_ping(std::string *error) {
    std::vector<uint8_t> b;
    const uint32_t seq = d_->take_seq();
    encode_cmd_simple(MessageType::CmdPing, seq, &b);
    return d_->send_command(std::move(b), seq, error);
}

bool Client::wait_reply(uint32_t seq, Reply *out, int timeout_ms, std::string *error) {
    const int64_t deadline = deadline_in(timeout_ms);
    for (;;) {
        Message m;
        const ReadStatus st = d_->read_socket(&m, deadline, error);
        if (st == ReadStatus::Timeout) return fail(error, "no reply from the agent in time");
        if (st != ReadStatus::Message) return false;
        if (m.type == MessageType::Reply && m.seq == seq) {
            if (out) *out = m.reply;
            return true;
        }
        if (m.type == MessageType::Error) return fail(error, "the agent closed the connection: " + m.error.message);
        if (m.type == MessageType::Bye) {
            d_->pending.push_back(std::move(m));
            return fail(error, "the agent is stopping");
        }
        d_->pending.push_back(std::move(m));
    }
}

bool Client::request_snapshot(bool include_blocks, model::Snapshot *out, int timeout_ms, std::string *error) {
    const uint32_t seq = send_snapshot_request(include_blocks, error);
    if (!seq) return false;
    const int64_t deadline = deadline_in(timeout_ms);
    for (;;) {
        Message m;
        const ReadStatus st = d_->read_socket(&m, deadline, error);
        if (st == ReadStatus::Timeout) return fail(error, "no snapshot from the agent in time");
        if (st != ReadStatus::Message) return false;
        if (m.type == MessageType::Snapshot && m.seq == seq) {
            *out = std::move(m.snapshot);
            return true;
        }
        if (m.type == MessageType::Reply && m.seq == seq)
            return fail(error, std::string("the agent could not take a snapshot: ") + to_string(m.reply.status) +
                                   (m.reply.message.empty() ? "" : ": " + m.reply.message));
        if (m.type == MessageType::Error) return fail(error, "the agent closed the connection: " + m.error.message);
        if (m.type == MessageType::Bye) {
            d_->pending.push_back(std::move(m));
            return fail(error, "the agent is stopping");
        }
        d_->pending.push_back(std::move(m));
    }
}

} // namespace nm::proto

// session.cpp - one agent connection's socket I/O: non-blocking reads into frames, queued writes.
#include "session.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nm::agent {

Session::Session(int fd, pid_t peer_pid, uid_t peer_uid, int64_t now_ms)
    : fd_(fd), peer_pid_(peer_pid), peer_uid_(peer_uid), accepted_ms_(now_ms), last_progress_ms_(now_ms),
      last_input_ms_(now_ms), last_write_ms_(now_ms), last_caught_up_ms_(now_ms) {}

Session::~Session() {
    if (fd_ >= 0) ::close(fd_);
}

namespace {
int64_t monotonic_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}
} // namespace

void Session::queue(std::vector<uint8_t> frame) {
    if (frame.empty()) return;
    // A stall is counted from when output became pending, not from the last write of an idle spell.
    if (out_.empty()) last_progress_ms_ = monotonic_ms();
    out_bytes_ += frame.size();
    out_.push_back({std::move(frame), 0});
}

Session::Io Session::flush(int64_t now_ms) {
    if (out_.empty()) last_progress_ms_ = now_ms;
    while (!out_.empty()) {
        Chunk &c = out_.front();
        // MSG_NOSIGNAL: a client that went away must cost an EPIPE here, never a SIGPIPE that
        // would kill the analyzer. MSG_DONTWAIT on top of O_NONBLOCK, in case a caller changed it.
        const ssize_t n = ::send(fd_, c.bytes.data() + c.sent, c.bytes.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.sent += size_t(n);
            out_bytes_ -= size_t(n);
            last_progress_ms_ = last_write_ms_ = now_ms;
            if (c.sent == c.bytes.size()) out_.pop_front();
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Io::Ok;
        return Io::Closed;
    }
    return Io::Ok;
}

int64_t Session::stalled_ms(int64_t now_ms) const {
    return out_.empty() ? 0 : now_ms - last_progress_ms_;
}

size_t Session::unread_by_peer() const {
    int n = 0;
    return ::ioctl(fd_, SIOCOUTQ, &n) == 0 && n > 0 ? size_t(n) : 0;
}

Session::Io Session::read_some(size_t budget, int64_t now_ms, std::string *error) {
    uint8_t buf[16384];
    while (budget > 0 && !reader_.failed()) {
        const ssize_t n = ::recv(fd_, buf, std::min(sizeof buf, budget), MSG_DONTWAIT);
        if (n == 0) {
            peer_eof_ = true;
            return Io::Ok; // queued replies still go out; the server closes once they have
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::Ok;
            if (error) *error = std::strerror(errno);
            return Io::Closed;
        }
        budget -= size_t(n);
        last_input_ms_ = now_ms;
        if (!reader_.feed({buf, size_t(n)}, error)) return Io::Ok; // caller sees reader().failed()
    }
    return Io::Ok;
}

void Session::fail(proto::ErrorCode code, const std::string &message) {
    std::vector<uint8_t> frame;
    proto::encode_error({code, message}, &frame);
    queue(std::move(frame));
    state_ = State::Closing;
}

} // namespace nm::agent

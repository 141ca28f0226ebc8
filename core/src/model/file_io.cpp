// file_io.cpp - whole-file reads and atomic whole-file writes with errno-worded errors.
#include "model/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nm::fileio {
namespace {

std::string errno_text(const char *what, const std::string &path, int err) {
    return std::string("cannot ") + what + " '" + path + "': " + std::strerror(err);
}

const char *file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

bool write_fd(int fd, std::span<const uint8_t> bytes, int *err) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            *err = errno;
            return false;
        }
        done += static_cast<size_t>(n);
    }
    return true;
}

} // namespace

bool write_atomically(const std::string &path, std::span<const uint8_t> bytes, std::string *error) {
    if (path.empty()) {
        if (error) *error = "no output path given";
        return false;
    }
    struct stat st {};
    const bool special = ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
    if (special && S_ISDIR(st.st_mode)) {
        if (error) *error = "cannot write '" + path + "': it is a directory";
        return false;
    }
    const std::string target = special ? path : path + ".tmp." + std::to_string(::getpid());
    // O_NONBLOCK for a special file: a FIFO that nobody reads fails with ENXIO at once instead of
    // blocking the open forever. It is cleared again before writing.
    int fd = ::open(target.c_str(),
                    O_WRONLY | O_CLOEXEC | O_NOCTTY | (special ? O_NONBLOCK : O_CREAT | O_TRUNC | O_EXCL),
                    0644);
    if (fd < 0 && special && errno == ENXIO) {
        if (error) *error = "cannot write '" + path + "': it is a FIFO that no process has open for reading";
        return false;
    }
    if (fd >= 0 && special) {
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    if (fd < 0 && !special && errno == EEXIST) {
        // A stale temporary of an earlier process with our pid: it is ours to replace.
        ::unlink(target.c_str());
        fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC | O_CREAT | O_TRUNC | O_EXCL, 0644);
    }
    if (fd < 0) {
        if (error) *error = errno_text("create", special ? path : target, errno);
        return false;
    }
    int err = 0;
    bool ok = write_fd(fd, bytes, &err);
    if (::close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        if (!special) ::unlink(target.c_str());
        if (error) *error = errno_text("write", path, err);
        return false;
    }
    if (!special && ::rename(target.c_str(), path.c_str()) != 0) {
        err = errno;
        ::unlink(target.c_str());
        if (error) *error = errno_text("replace", path, err);
        return false;
    }
    return true;
}

Input::~Input() {
    if (fd_ >= 0) ::close(fd_);
}

bool Input::open(const std::string &path, std::string *error) {
    path_ = path;
    // O_NONBLOCK: opening a FIFO that has no writer would otherwise wait forever, before the
    // fstat below could refuse it. O_NOCTTY: a terminal device never becomes ours.
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd_ < 0) {
        if (error) *error = errno_text("open", path, errno);
        return false;
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
        if (error) *error = errno_text("stat", path, errno);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        if (error)
            *error = "cannot read '" + path + "': it is " + file_kind(st.st_mode) +
                     "; only regular files are read";
        return false;
    }
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
    return true;
}

bool Input::read_up_to(uint64_t n, std::vector<uint8_t> *out, bool *eof, std::string *error) {
    *eof = false;
    constexpr uint64_t kChunk = uint64_t{1} << 20;
    while (n > 0) {
        // Grow by at most one chunk ahead of the bytes really read: a hostile length costs nothing.
        size_t want = static_cast<size_t>(std::min(n, kChunk));
        size_t at = out->size();
        out->resize(at + want);
        ssize_t got = ::read(fd_, out->data() + at, want);
        if (got < 0) {
            out->resize(at);
            if (errno == EINTR) continue;
            if (error) *error = errno_text("read", path_, errno);
            return false;
        }
        out->resize(at + static_cast<size_t>(got));
        if (got == 0) {
            *eof = true;
            return true;
        }
        n -= static_cast<uint64_t>(got);
    }
    return true;
}

bool read_all(const std::string &path, std::vector<uint8_t> *out, uint64_t max_bytes,
              std::string *error) {
    Input in;
    if (!in.open(path, error)) return false;
    out->clear();
    bool eof = false;
    if (!in.read_up_to(max_bytes, out, &eof, error)) return false;
    if (!eof) {
        std::vector<uint8_t> probe;
        if (!in.read_up_to(1, &probe, &eof, error)) return false;
        if (!eof) {
            if (error)
                *error = "'" + path + "' is larger than the limit of " + std::to_string(max_bytes) +
                         " bytes";
            return false;
        }
    }
    return true;
}

} // namespace nm::fileio

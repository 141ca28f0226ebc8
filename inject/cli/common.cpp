// common.cpp - helpers the snapshot-reading verbs share: load, suppress, write the output.
#include "verb.hpp"

#include <nmleak/snapshot_io.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace nm::cli {

bool load_snapshot(const std::string &path, model::Snapshot *out) {
    std::string error;
    if (snapshot_io::read_file(path, out, &error)) return true;
    fail(error);
    return false;
}

bool load_suppressions(const std::vector<std::string> &paths, report::Suppressions *out) {
    for (const std::string &p : paths) {
        std::string error;
        if (!out->add_file(p, &error)) {
            fail(error);
            return false;
        }
    }
    return true;
}

bool parse_budgets(const std::vector<std::string> &texts, std::vector<report::Budget> *out) {
    for (const std::string &t : texts) {
        report::Budget b;
        std::string error;
        if (!report::parse_budget(t, &b, &error)) {
            fail(error);
            return false;
        }
        out->push_back(std::move(b));
    }
    return true;
}

bool emit(const std::string &out_path,
          const std::function<bool(std::ostream &, std::string *)> &produce) {
    std::string error;
    if (out_path.empty() || out_path == "-") {
        if (!produce(std::cout, &error)) {
            fail(error.empty() ? "cannot write to standard output" : error);
            return false;
        }
        std::cout.flush();
        if (!std::cout) {
            fail("cannot write to standard output");
            return false;
        }
        return true;
    }
    // Render first, then write a temporary file and rename it: a failed run never leaves half a
    // report where a CI step would pick it up.
    std::ostringstream buf;
    if (!produce(buf, &error)) {
        fail(error);
        return false;
    }
    // A device, FIFO or socket (-o /dev/null, -o /dev/stdout, a pipe) is written in place: a
    // rename would replace it with a regular file, and as root destroy /dev/null.
    struct stat st {};
    if (::stat(out_path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            fail("cannot write '" + out_path + "': it is a directory");
            return false;
        }
        const int fd = ::open(out_path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
            fail("cannot write '" + out_path + "': " +
                 (errno == ENXIO ? std::string("it is a FIFO that no process has open for reading") : std::strerror(errno)));
            return false;
        }
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        const std::string text = std::move(buf).str();
        size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            done += size_t(n);
        }
        const int err = errno;
        ::close(fd);
        if (done != text.size()) {
            fail("cannot write '" + out_path + "': " + std::strerror(err));
            return false;
        }
        return true;
    }
    const std::string tmp = out_path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) {
            fail("cannot create '" + tmp + "': " + std::strerror(errno));
            return false;
        }
        const std::string text = std::move(buf).str();
        f.write(text.data(), static_cast<std::streamsize>(text.size()));
        f.close();
        if (!f) {
            ::unlink(tmp.c_str());
            fail("cannot write '" + out_path + "'");
            return false;
        }
    }
    if (::rename(tmp.c_str(), out_path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        fail("cannot replace '" + out_path + "': " + std::strerror(err));
        return false;
    }
    return true;
}

} // namespace nm::cli

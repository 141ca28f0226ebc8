// file_io.hpp - whole-file reads and atomic whole-file writes with errno-worded errors.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace nm::fileio {

// Writes PATH.tmp.PID then renames it over PATH, so a reader (the GUI, a CI step) never sees half a
// file. A PATH that exists and is not a regular file (/dev/stdout, a FIFO) is written in place.
bool write_atomically(const std::string &path, std::span<const uint8_t> bytes, std::string *error);

// Reads the whole file into *out, refusing more than max_bytes (so /dev/zero or a huge file fails
// with a message instead of exhausting memory).
bool read_all(const std::string &path, std::vector<uint8_t> *out, uint64_t max_bytes,
              std::string *error);

// An open file read in pieces; the buffer grows only as bytes actually arrive.
class Input {
public:
    Input() = default;
    Input(const Input &) = delete;
    Input &operator=(const Input &) = delete;
    ~Input();

    bool open(const std::string &path, std::string *error);
    // Appends up to n bytes to *out; sets *eof when the file ended first. False on a read error.
    bool read_up_to(uint64_t n, std::vector<uint8_t> *out, bool *eof, std::string *error);

private:
    int fd_ = -1;
    std::string path_;
};

} // namespace nm::fileio

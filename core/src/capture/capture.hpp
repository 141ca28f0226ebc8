// capture.hpp - a pcap capture loaded into read-only memory, and the key -> capture table that
// ExpertGetFrame reads.
#pragma once

#include <netmon.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nm::capture {

// Every frame of one capture file, laid out as FRAME records (TimeStamp, FrameLength,
// nBytesAvail, MacFrame) in one mapping that is made read-only once loaded: the same frames are
// handed to every expert reading the file, so an expert that writes into a frame crashes (and is
// contained like any crash) instead of corrupting what the others read.
class Capture {
public:
    ~Capture();
    Capture(const Capture &) = delete;
    Capture &operator=(const Capture &) = delete;

    // Loads `path` with libpcap (pcap or pcapng; timestamps in microseconds). nullptr with a
    // one-line reason naming the file in *error for a missing, unreadable, corrupt or truncated
    // file.
    static std::shared_ptr<const Capture> load(const std::string &path, std::string *error);

    uint32_t count() const noexcept { return static_cast<uint32_t>(offsets_.size()); }
    const FRAME *frame(uint32_t i) const noexcept {
        return reinterpret_cast<const FRAME *>(base_ + offsets_[i]);
    }
    uint16_t link_type() const noexcept { return link_type_; }
    const std::string &path() const noexcept { return path_; }

private:
    Capture() = default;

    std::string path_;
    uint16_t link_type_ = 0;
    std::vector<size_t> offsets_; // of each FRAME in the mapping
    unsigned char *base_ = nullptr;
    size_t mapped_ = 0;
};

// The loaded capture for `path`: shared with every other run reading the same, unchanged file
// (same device, inode, size and mtime) while any of them still holds it.
std::shared_ptr<const Capture> open_shared(const std::string &path, std::string *error);

// The key -> capture table. attach() replaces what the key had; detach() and frames_read() give
// the number of distinct frames ExpertGetFrame handed out for the key since attach.
void attach(void *key, std::shared_ptr<const Capture> capture);
uint32_t detach(void *key);
uint32_t frames_read(void *key);
// The capture attached to the key (nullptr: none); *keep holds it alive for the caller.
const Capture *capture_of(void *key, std::shared_ptr<const Capture> *keep);

} // namespace nm::capture

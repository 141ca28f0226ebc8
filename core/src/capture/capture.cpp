// capture.cpp - loads a pcap file into one read-only mapping of FRAME records, shared per file.
#include "capture/capture.hpp"

#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

namespace nm::capture {
namespace {

constexpr size_t kFrameHeader = offsetof(FRAME, MacFrame);
static_assert(kFrameHeader == 16, "FRAME: TimeStamp, FrameLength, nBytesAvail, then the bytes");

// The largest frame number an expert can ask for: NM_FRAME_BEFORE_FIRST (0xFFFFFFFF) is taken.
constexpr size_t kMaxFrames = 0xFFFFFFFEu;

size_t record_size(uint32_t caplen) {
    // Never shorter than sizeof(FRAME), so code that copies a whole FRAME stays inside the mapping;
    // 8-aligned so every TimeStamp is aligned.
    size_t n = kFrameHeader + caplen;
    if (n < sizeof(FRAME)) n = sizeof(FRAME);
    return (n + 7) & ~size_t{7};
}

std::string describe(const std::string &path, const std::string &what) {
    return "capture '" + path + "': " + what;
}

struct FileId {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    bool operator<(const FileId &o) const {
        return std::tie(dev, ino, size, mtime_ns) < std::tie(o.dev, o.ino, o.size, o.mtime_ns);
    }
};

std::mutex g_cache_mu;
std::map<FileId, std::weak_ptr<const Capture>> *g_cache = new std::map<FileId, std::weak_ptr<const Capture>>;

} // namespace

Capture::~Capture() {
    if (base_) munmap(base_, mapped_);
}

std::shared_ptr<const Capture> Capture::load(const std::string &path, std::string *error) {
    auto fail = [&](const std::string &what) -> std::shared_ptr<const Capture> {
        if (error) *error = describe(path, what);
        return nullptr;
    };
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return fail(std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return fail("not a regular file");

    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t *pc = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (!pc) return fail(std::string("not a readable pcap/pcapng file (") + errbuf + ")");

    std::shared_ptr<Capture> cap(new Capture);
    cap->path_ = path;
    cap->link_type_ = static_cast<uint16_t>(pcap_datalink(pc));

    // First into an ordinary buffer (the count is unknown until the end), then into the mapping.
    std::vector<unsigned char> staging;
    int64_t first_us = 0;
    std::string failure;
    for (;;) {
        pcap_pkthdr *hdr = nullptr;
        const u_char *bytes = nullptr;
        int rc = pcap_next_ex(pc, &hdr, &bytes);
        if (rc == PCAP_ERROR_BREAK) break;
        if (rc != 1) {
            failure = "frame " + std::to_string(cap->offsets_.size()) + ": " + pcap_geterr(pc);
            break;
        }
        if (cap->offsets_.size() >= kMaxFrames) {
            failure = "more than 4294967294 frames";
            break;
        }
        int64_t us = int64_t(hdr->ts.tv_sec) * 1000000 + hdr->ts.tv_usec;
        if (cap->offsets_.empty()) first_us = us;
        size_t at = staging.size();
        staging.resize(at + record_size(hdr->caplen), 0);
        FRAME head{};
        head.TimeStamp = us - first_us;
        head.FrameLength = hdr->len;
        head.nBytesAvail = hdr->caplen;
        std::memcpy(staging.data() + at, &head, kFrameHeader);
        if (hdr->caplen) std::memcpy(staging.data() + at + kFrameHeader, bytes, hdr->caplen);
        cap->offsets_.push_back(at);
    }
    pcap_close(pc);
    if (!failure.empty()) return fail(failure);

    cap->mapped_ = staging.empty() ? 4096 : staging.size();
    void *m = mmap(nullptr, cap->mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        cap->mapped_ = 0;
        return fail(std::string("cannot map the frames: ") + std::strerror(errno));
    }
    cap->base_ = static_cast<unsigned char *>(m);
    if (!staging.empty()) std::memcpy(cap->base_, staging.data(), staging.size());
    mprotect(cap->base_, cap->mapped_, PROT_READ);
    return cap;
}

std::shared_ptr<const Capture> open_shared(const std::string &path, std::string *error) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
        if (error) *error = describe(path, std::strerror(errno));
        return nullptr;
    }
    FileId id{st.st_dev, st.st_ino, st.st_size, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
    // Loading happens under the lock: two experts started together on one file load it once.
    std::lock_guard<std::mutex> lock(g_cache_mu);
    for (auto it = g_cache->begin(); it != g_cache->end();) // forget files nobody reads any more
        it = it->second.expired() ? g_cache->erase(it) : std::next(it);
    auto &slot = (*g_cache)[id];
    if (auto cap = slot.lock()) return cap;
    auto cap = Capture::load(path, error);
    if (cap) slot = cap;
    else g_cache->erase(id);
    return cap;
}

} // namespace nm::capture

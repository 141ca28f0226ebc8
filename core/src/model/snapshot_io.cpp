// snapshot_io.cpp - the snapshot container: header, CRC-32 checks, zstd, and snapshot files.
//
// Header, 40 bytes, uncompressed, little-endian. Bytes 0..39 keep this layout in every format
// version (only the payload changes), so any build can tell "newer version" from "corrupted".
//
//   offset size field
//        0    8 magic "NMLKSNAP"
//        8    4 u32 format version (1)
//       12    4 u32 flags: bit 0 = the stored bytes are one zstd frame; clear = stored as is.
//                 Other bits must be 0.
//       16    8 u64 payload_size: bytes of the decoded payload (snapshot_codec.cpp)
//       24    8 u64 stored_size: bytes that follow the header; the file ends right after them
//       32    4 u32 CRC-32 of the stored bytes
//       36    4 u32 CRC-32 of header bytes 0..35
//
// The zstd frame also carries zstd's own content checksum of the payload, so corruption is caught
// before (stored CRC) and after (content checksum) decompression.
#include <nmleak/snapshot_io.hpp>

#include "model/bytes.hpp"
#include "model/file_io.hpp"
#include "model/payload_source.hpp"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

namespace nm::snapshot_io {
namespace {

constexpr uint32_t kFlagZstd = 1u;
constexpr uint32_t kKnownFlags = kFlagZstd;
// zstd's window, decoding and encoding: 16 MiB (levels up to 19 use no more on snapshot payloads).
constexpr int kWindowLogMax = 24;
// Decompressed bytes handed to the payload decoder at a time.
constexpr size_t kPieceBytes = size_t{256} << 10;
// A payload may be at most this many times larger than its compressed form, beyond the first
// kRatioSlack bytes. Most snapshots compress 4-6x, but a live agent's snapshot of many alike keys
// was seen at 64x (340 KB holding 21.8 MB); a file that claims more than 1024x is a decompression
// bomb, refused before anything is decompressed (the stream decoder bounds memory below that).
constexpr uint64_t kMaxRatio = 1024;
constexpr uint64_t kRatioSlack = uint64_t{16} << 20;

// Slicing-by-8 tables: 8 KiB, built at compile time; ~2 GB/s keeps the check off the profile.
constexpr std::array<std::array<uint32_t, 256>, 8> make_crc_tables() {
    std::array<std::array<uint32_t, 256>, 8> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
        for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    return t;
}
constexpr auto kCrcTables = make_crc_tables();

using bytes::load_le32;
using bytes::load_le64;
using bytes::store_le32;
using bytes::store_le64;

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

bool fail(std::string *error, std::string why) {
    if (error) *error = std::move(why);
    return false;
}

struct Header {
    uint32_t version = 0;
    uint32_t flags = 0;
    uint64_t payload_size = 0;
    uint64_t stored_size = 0;
    uint32_t stored_crc = 0;
};

// Magic, header checksum, version and flags: everything knowable from the first 40 bytes.
bool parse_header(std::span<const uint8_t> bytes, Header *h, const DecodeLimits &limits,
                  std::string *error) {
    if (bytes.empty()) return fail(error, "empty input: a snapshot file holds at least 40 bytes");
    const size_t n = std::min(bytes.size(), sizeof kMagic);
    if (std::memcmp(bytes.data(), kMagic, n) != 0) {
        std::string seen;
        for (size_t i = 0; i < n; ++i) {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%02x", bytes[i]);
            seen += buf;
        }
        return fail(error, "not an nmleak snapshot: bad magic (expected \"NMLKSNAP\", found bytes " +
                               seen + ")");
    }
    if (bytes.size() < kHeaderSize)
        return fail(error, "truncated snapshot: the header needs " + std::to_string(kHeaderSize) +
                               " bytes, the input has " + std::to_string(bytes.size()));
    const uint8_t *p = bytes.data();
    h->version = load_le32(p + 8);
    h->flags = load_le32(p + 12);
    h->payload_size = load_le64(p + 16);
    h->stored_size = load_le64(p + 24);
    h->stored_crc = load_le32(p + 32);
    const uint32_t header_crc = load_le32(p + 36);
    if (crc32(bytes.first(36)) != header_crc)
        return fail(error, "corrupted snapshot: header checksum mismatch");
    if (h->version < kOldestFormatVersion || h->version > kFormatVersion)
        return fail(error, "unsupported snapshot format version " + std::to_string(h->version) +
                               " (this nmleak reads version " + std::to_string(kFormatVersion) +
                               (h->version > kFormatVersion ? "; written by a newer nmleak)" : ")"));
    if (h->flags & ~kKnownFlags)
        return fail(error, "unsupported snapshot flags " + hex32(h->flags));
    if (h->payload_size > limits.max_payload_bytes)
        return fail(error, "snapshot payload of " + std::to_string(h->payload_size) +
                               " bytes exceeds the limit of " +
                               std::to_string(limits.max_payload_bytes) + " bytes");
    // zstd never expands data by more than 1/256 + a few bytes (ZSTD_compressBound); a larger
    // stored size is a damaged field, refused before anything is read or allocated for it.
    const uint64_t slack = h->payload_size / 128 + (uint64_t{1} << 20);
    if (h->stored_size > h->payload_size && h->stored_size - h->payload_size > slack)
        return fail(error, "corrupted snapshot: " + std::to_string(h->stored_size) +
                               " stored bytes cannot encode a payload of " +
                               std::to_string(h->payload_size));
    if ((h->flags & kFlagZstd) && h->payload_size > kRatioSlack &&
        h->payload_size / kMaxRatio > h->stored_size)
        return fail(error, "corrupted snapshot: " + std::to_string(h->stored_size) +
                               " bytes of zstd data claim to hold " + std::to_string(h->payload_size) +
                               " bytes (more than " + std::to_string(kMaxRatio) +
                               " times as many): refused as a decompression bomb");
    if (!(h->flags & kFlagZstd) && h->payload_size != h->stored_size)
        return fail(error, "corrupted snapshot: uncompressed data of " +
                               std::to_string(h->stored_size) + " bytes, header says " +
                               std::to_string(h->payload_size));
    return true;
}

// The payload as zstd produces it, one piece of at most kPieceBytes at a time: the decoder holds
// this piece and zstd's window (at most 2^kWindowLogMax bytes, and no more than the frame needs),
// never the whole payload. Output past the header's payload size is refused as it appears.
class ZstdSource final : public ByteSource {
public:
    ZstdSource(std::span<const uint8_t> stored, uint64_t payload_size)
        : dctx_(ZSTD_createDCtx(), ZSTD_freeDCtx), in_{stored.data(), stored.size(), 0},
          payload_size_(payload_size) {}

    bool start(std::string *error) {
        if (!dctx_) return fail(error, "out of memory creating a zstd context");
        // A hostile frame header could ask for a window of up to 2 GiB: cap it at what the encoder
        // ever writes (encode() caps its window the same way).
        ZSTD_DCtx_setParameter(dctx_.get(), ZSTD_d_windowLogMax, kWindowLogMax);
        const unsigned long long frame_size = ZSTD_getFrameContentSize(in_.src, in_.size);
        if (frame_size == ZSTD_CONTENTSIZE_ERROR)
            return fail(error, "corrupted snapshot: the data is not a zstd frame");
        if (frame_size != ZSTD_CONTENTSIZE_UNKNOWN && frame_size != payload_size_)
            return fail(error, "corrupted snapshot: zstd frame of " + std::to_string(frame_size) +
                                   " bytes, header says " + std::to_string(payload_size_));
        return true;
    }

    bool next(std::span<const uint8_t> *piece, std::string *error) override {
        *piece = {};
        if (done_) return true;
        out_.resize(kPieceBytes);
        ZSTD_outBuffer ob{out_.data(), out_.size(), 0};
        while (ob.pos == 0) {
            const size_t in_before = in_.pos;
            const size_t rc = ZSTD_decompressStream(dctx_.get(), &ob, &in_);
            if (ZSTD_isError(rc))
                return fail(error, std::string("corrupted snapshot: zstd: ") + ZSTD_getErrorName(rc));
            if (rc == 0) { // frame complete, zstd's content checksum verified
                done_ = true;
                break;
            }
            if (ob.pos == 0 && in_.pos == in_.size) return fail(error, "truncated snapshot: the zstd frame ends early");
            if (ob.pos == 0 && in_.pos == in_before) return fail(error, "corrupted snapshot: zstd made no progress");
        }
        produced_ += ob.pos;
        if (produced_ > payload_size_)
            return fail(error, "corrupted snapshot: the data decompresses to more than the " +
                                   std::to_string(payload_size_) + " bytes the header says");
        if (done_ && !finished_well(error)) return false;
        *piece = {out_.data(), ob.pos};
        return true;
    }

    // After the payload was decoded: the frame must end here, with nothing after it.
    bool finish(std::string *error) {
        std::span<const uint8_t> piece;
        while (!done_) {
            if (!next(&piece, error)) return false;
            if (!piece.empty())
                return fail(error, "corrupted snapshot: the data decompresses to more than the " +
                                       std::to_string(payload_size_) + " bytes the header says");
        }
        return finished_well(error);
    }

private:
    bool finished_well(std::string *error) const {
        if (in_.pos != in_.size)
            return fail(error, "corrupted snapshot: " + std::to_string(in_.size - in_.pos) +
                                   " bytes after the zstd frame");
        if (produced_ != payload_size_)
            return fail(error, "corrupted snapshot: the data decompresses to " + std::to_string(produced_) +
                                   " bytes, header says " + std::to_string(payload_size_));
        return true;
    }

    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx *)> dctx_;
    ZSTD_inBuffer in_;
    uint64_t payload_size_;
    uint64_t produced_ = 0;
    bool done_ = false;
    std::vector<uint8_t> out_;
};

bool decode_checked(std::span<const uint8_t> bytes, model::Snapshot *out, std::string *error,
                    const DecodeLimits &limits) {
    Header h;
    if (!parse_header(bytes, &h, limits, error)) return false;
    const uint64_t have = bytes.size() - kHeaderSize;
    if (have < h.stored_size)
        return fail(error, "truncated snapshot: the header announces " +
                               std::to_string(h.stored_size) + " bytes of data, only " +
                               std::to_string(have) + " present");
    if (have > h.stored_size)
        return fail(error, "corrupted snapshot: " + std::to_string(have - h.stored_size) +
                               " unexpected bytes after the snapshot data");
    std::span<const uint8_t> stored = bytes.subspan(kHeaderSize);
    const uint32_t crc = crc32(stored);
    if (crc != h.stored_crc)
        return fail(error, "corrupted snapshot: data checksum mismatch (header " +
                               hex32(h.stored_crc) + ", data " + hex32(crc) + ")");
    if (!(h.flags & kFlagZstd)) return decode_payload(stored, out, error, h.version);
    ZstdSource source(stored, h.payload_size);
    if (!source.start(error)) return false;
    model::Snapshot snap;
    if (!decode_payload_stream(source, h.payload_size, &snap, error, h.version)) return false;
    if (!source.finish(error)) return false;
    *out = std::move(snap);
    return true;
}

} // namespace

uint32_t crc32(std::span<const uint8_t> bytes, uint32_t seed) noexcept {
    uint32_t c = ~seed;
    const uint8_t *p = bytes.data();
    size_t n = bytes.size();
    const auto &t = kCrcTables;
    while (n >= 8) {
        uint32_t lo = c ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 |
                           uint32_t{p[3]} << 24);
        c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
            t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

bool has_magic(std::span<const uint8_t> bytes) noexcept {
    return bytes.size() >= sizeof kMagic && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0;
}

bool encode(const model::Snapshot &snap, std::vector<uint8_t> *out, std::string *error,
            const EncodeOptions &options) {
    try {
        std::vector<uint8_t> payload;
        encode_payload(snap, &payload);
        const size_t start = out->size();
        out->resize(start + kHeaderSize);
        uint32_t flags = 0;
        if (options.zstd_level > 0) {
            flags |= kFlagZstd;
            std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx *)> cctx(ZSTD_createCCtx(),
                                                                   ZSTD_freeCCtx);
            if (!cctx) return fail(error, "out of memory creating a zstd context");
            ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel,
                                   std::min(options.zstd_level, ZSTD_maxCLevel()));
            ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
            ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, 1);
            // Levels up to 19 use a window of at most 2^23; the "ultra" levels above want more than
            // decode accepts.
            if (options.zstd_level > 19) ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, kWindowLogMax);
            out->resize(start + kHeaderSize + ZSTD_compressBound(payload.size()));
            size_t n = ZSTD_compress2(cctx.get(), out->data() + start + kHeaderSize,
                                      out->size() - start - kHeaderSize, payload.data(),
                                      payload.size());
            if (ZSTD_isError(n)) {
                out->resize(start);
                return fail(error, std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
            }
            out->resize(start + kHeaderSize + n);
        } else {
            out->insert(out->end(), payload.begin(), payload.end());
        }
        uint8_t *h = out->data() + start;
        std::memcpy(h, kMagic, sizeof kMagic);
        store_le32(h + 8, kFormatVersion);
        store_le32(h + 12, flags);
        store_le64(h + 16, payload.size());
        store_le64(h + 24, out->size() - start - kHeaderSize);
        store_le32(h + 32, crc32({h + kHeaderSize, out->size() - start - kHeaderSize}));
        store_le32(h + 36, crc32({h, 36}));
        return true;
    } catch (const std::bad_alloc &) {
        return fail(error, "out of memory encoding the snapshot");
    } catch (const std::length_error &e) {
        return fail(error, e.what());
    }
}

bool decode(std::span<const uint8_t> bytes, model::Snapshot *out, std::string *error,
            const DecodeLimits &limits) {
    try {
        return decode_checked(bytes, out, error, limits);
    } catch (const std::bad_alloc &) {
        return fail(error, "out of memory decoding the snapshot");
    }
}

bool write_file(const model::Snapshot &snap, const std::string &path, std::string *error,
                const EncodeOptions &options) {
    std::vector<uint8_t> bytes;
    if (!encode(snap, &bytes, error, options)) return false;
    return fileio::write_atomically(path, bytes, error);
}

bool read_file(const std::string &path, model::Snapshot *out, std::string *error,
               const DecodeLimits &limits) {
    fileio::Input in;
    if (!in.open(path, error)) return false;
    std::vector<uint8_t> bytes;
    bool eof = false;
    std::string why;
    if (!in.read_up_to(kHeaderSize, &bytes, &eof, error)) return false;
    Header h;
    if (!parse_header(bytes, &h, limits, &why)) return fail(error, path + ": " + why);
    // Read what the (checksummed) header announces, plus one byte to notice trailing garbage; the
    // buffer grows only with bytes really read.
    if (!in.read_up_to(h.stored_size + 1, &bytes, &eof, error)) return false;
    if (!decode(bytes, out, &why, limits)) return fail(error, path + ": " + why);
    return true;
}

} // namespace nm::snapshot_io

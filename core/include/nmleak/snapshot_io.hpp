// snapshot_io.hpp - the snapshot file: a versioned, checksummed, zstd-compressed model::Snapshot.
//
// Two layers, both on byte buffers so the live agent can stream snapshots without files:
//   payload   - the uncompressed little-endian encoding of one Snapshot (encode_payload/decode_payload)
//   container - a 40-byte uncompressed header (magic, version, sizes, CRC32s) + the zstd-compressed
//               payload (encode/decode); read_file/write_file put a container in a file.
// The byte layouts are drawn beside the code (core/src/model/snapshot_codec.cpp, snapshot_io.cpp).
// Every decoder returns false with a one-line reason in *error for truncated, corrupted, wrong-magic,
// wrong-version or empty input; none of them crashes or trusts a length field for an allocation.
#pragma once

#include <nmleak/model.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace nm::snapshot_io {

// "NMLKSNAP": the first 8 bytes of every snapshot file.
inline constexpr unsigned char kMagic[8] = {'N', 'M', 'L', 'K', 'S', 'N', 'A', 'P'};
// The container format version. Bump it (and keep reading the old one) when the layout changes.
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kOldestFormatVersion = 1; // older payloads still decode
inline constexpr size_t kHeaderSize = 40;
// Conventional file extension.
inline constexpr const char *kExtension = ".nmsnap";

struct EncodeOptions {
    // 1..19, or 0 to store the payload uncompressed. Level 1 compresses a 1M-block snapshot
    // (28 MB of payload) to ~6 MB in ~0.13 s here; level 3 is slower and no smaller on block lists.
    int zstd_level = 1;
};

struct DecodeLimits {
    // Upper bound on the decompressed payload. The decoder grows its buffer only as real bytes come
    // out of zstd, so a small hostile file cannot make it reserve this much up front.
    uint64_t max_payload_bytes = uint64_t{4} << 30;
};

// The payload layer. encode_payload appends to *out; it throws std::length_error for a string or
// list beyond the format's 32-bit lengths. decode_payload also checks that every stack, frame and
// enum value refers to something that exists.
void encode_payload(const model::Snapshot &snap, std::vector<uint8_t> *out);
bool decode_payload(std::span<const uint8_t> payload, model::Snapshot *out, std::string *error,
                    uint32_t version = kFormatVersion);

// The container layer. encode appends header + compressed payload to *out; it fails only when zstd
// does (out of memory) or a string is longer than 4 GiB.
bool encode(const model::Snapshot &snap, std::vector<uint8_t> *out, std::string *error,
            const EncodeOptions &options = {});
bool decode(std::span<const uint8_t> bytes, model::Snapshot *out, std::string *error,
            const DecodeLimits &limits = {});

// True when the buffer starts with kMagic (a cheap sniff; decode does the real checks).
bool has_magic(std::span<const uint8_t> bytes) noexcept;

// Files. write_file writes PATH.tmp.PID and renames it over PATH, so a reader never sees half a
// snapshot. Errors name the path.
bool write_file(const model::Snapshot &snap, const std::string &path, std::string *error,
                const EncodeOptions &options = {});
bool read_file(const std::string &path, model::Snapshot *out, std::string *error,
               const DecodeLimits &limits = {});

// CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of a buffer; exposed for tests and the wire codec.
uint32_t crc32(std::span<const uint8_t> bytes, uint32_t seed = 0) noexcept;

} // namespace nm::snapshot_io

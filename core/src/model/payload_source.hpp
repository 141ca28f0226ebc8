// payload_source.hpp - the snapshot payload as a stream of pieces, so that the container decoder
// (snapshot_io.cpp) can decode zstd output as it is produced instead of holding it whole.
#pragma once

#include <nmleak/model.hpp>

#include "model/bytes.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace nm::snapshot_io {

// The payload's pieces: next() gives the next one, valid until the next call, empty once the
// payload ended; false with *error when the source failed (corrupted compressed data, more data
// than announced).
using ByteSource = bytes::PieceSource;

// decode_payload for a payload of `size` bytes (format `version`) that comes from `source` in pieces. Memory grows
// with the decoded content only: counts are checked against the bytes still to come, and lists grow
// as their elements are read. The source must deliver exactly `size` bytes; the caller checks what
// comes after (the end of a zstd frame).
bool decode_payload_stream(ByteSource &source, uint64_t size, model::Snapshot *out, std::string *error,
                           uint32_t version);

} // namespace nm::snapshot_io

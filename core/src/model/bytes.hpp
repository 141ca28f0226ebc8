// bytes.hpp - the little-endian byte reader and writer of every binary format nmleak speaks: the
// snapshot payload and container (snapshot_codec.cpp, snapshot_io.cpp) and the live protocol
// (proto/wire.cpp).
//
// Integers are little-endian with no padding; `str` is a u32 byte length followed by the bytes.
// The Reader never reads past the end of its input and never allocates from a length it has not
// checked against the bytes still to come, so hostile input costs a clean error, not memory or UB.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nm::bytes {

inline void store_le16(uint8_t *p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
}
inline void store_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void store_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint16_t load_le16(const uint8_t *p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
inline uint32_t load_le32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{p[i]} << (8 * i);
    return v;
}
inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
    return v;
}

// Appends to a byte vector it does not own. `format` names the format in length errors.
class Writer {
public:
    explicit Writer(std::vector<uint8_t> *out, const char *format = "output")
        : out_(out), format_(format) {}

    void u8(uint8_t v) { *grow(1) = v; }
    void u16(uint16_t v) { store_le16(grow(2), v); }
    void u32(uint32_t v) { store_le32(grow(4), v); }
    void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
    void u64(uint64_t v) { store_le64(grow(8), v); }
    void raw(const void *p, size_t n) {
        if (n != 0) std::memcpy(grow(n), p, n);
    }
    // u32 length + bytes; a string longer than a u32 can say is a std::length_error.
    void str(std::string_view s) {
        if (s.size() > std::numeric_limits<uint32_t>::max())
            throw std::length_error(std::string("a string of the ") + format_ +
                                    " is longer than 4 GiB");
        u32(static_cast<uint32_t>(s.size()));
        raw(s.data(), s.size());
    }
    // A u32 element count; more elements than a u32 can say is a std::length_error naming `what`.
    void count32(size_t n, const char *what) {
        if (n > std::numeric_limits<uint32_t>::max())
            throw std::length_error(std::string("too many ") + what + " for the " + format_ +
                                    " format");
        u32(static_cast<uint32_t>(n));
    }
    // n more bytes at the end, to be filled by the caller (valid until the next append).
    uint8_t *grow(size_t n) {
        const size_t at = out_->size();
        out_->resize(at + n);
        return out_->data() + at;
    }
    // Overwrites a u32 written earlier (a length known only once what follows it is written).
    void patch32(size_t at, uint32_t v) { store_le32(out_->data() + at, v); }
    size_t size() const { return out_->size(); }

private:
    std::vector<uint8_t> *out_;
    const char *format_;
};

// Input that arrives in pieces (decompressor output), for a Reader that holds one piece at a time.
class PieceSource {
public:
    virtual ~PieceSource() = default;
    // The next piece, valid until the next call; empty once the input ended. False with *error
    // when the source failed (corrupted compressed data, more data than announced).
    virtual bool next(std::span<const uint8_t> *piece, std::string *error) = 0;
};

// A bounds-checked cursor over one span in memory, or over a PieceSource of a declared size: only
// the current piece is held, plus the bytes of one field that straddles two pieces. The first
// failure sticks, so callers can read a whole record and test ok() once; every read after a
// failure, or past the end, returns zeros and empty strings. `what` names the field in errors.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> in) : piece_(in), size_(in.size()) {}
    Reader(PieceSource &source, uint64_t size) : source_(&source), size_(size) {}

    bool ok() const { return error_.empty(); }
    const std::string &error() const { return error_; }
    uint64_t offset() const { return base_ + at_; }
    uint64_t remaining() const { return size_ - offset(); }
    // Records the first failure; always false, so `return r.fail(...)` reads well.
    bool fail(const std::string &why) {
        if (error_.empty()) error_ = why.empty() ? std::string("invalid input") : why;
        return false;
    }

    uint8_t u8(const char *what) {
        const uint8_t *p = take(1, what);
        return p ? *p : 0;
    }
    uint16_t u16(const char *what) {
        const uint8_t *p = take(2, what);
        return p ? load_le16(p) : 0;
    }
    uint32_t u32(const char *what) {
        const uint8_t *p = take(4, what);
        return p ? load_le32(p) : 0;
    }
    int32_t i32(const char *what) { return static_cast<int32_t>(u32(what)); }
    uint64_t u64(const char *what) {
        const uint8_t *p = take(8, what);
        return p ? load_le64(p) : 0;
    }
    // A u32 length and that many bytes. A length above `limit` fails before anything is read;
    // the string grows only with bytes that really arrived.
    std::string str(const char *what, uint32_t limit = std::numeric_limits<uint32_t>::max()) {
        const uint32_t n = u32(what);
        std::string s;
        if (!ok()) return s;
        if (n > limit) {
            fail(std::string(what) + ": a text field of " + std::to_string(n) + " bytes (limit " +
                 std::to_string(limit) + ")");
            return s;
        }
        if (!room(n, what)) return s;
        if (piece_.size() - at_ >= n) {
            s.assign(reinterpret_cast<const char *>(piece_.data() + at_), n);
            at_ += n;
            return s;
        }
        while (s.size() < n) {
            if (at_ == piece_.size() && !advance(what)) return std::string();
            const size_t k = std::min<size_t>(n - s.size(), piece_.size() - at_);
            s.append(reinterpret_cast<const char *>(piece_.data() + at_), k);
            at_ += k;
        }
        return s;
    }
    // True when the next bytes are `expected` (consumed); otherwise fails with `why`.
    bool expect(std::span<const uint8_t> expected, const char *what, const std::string &why) {
        const uint8_t *p = take(expected.size(), what);
        if (p == nullptr) return false;
        if (!expected.empty() && std::memcmp(p, expected.data(), expected.size()) != 0) return fail(why);
        return true;
    }
    // A list length, refused unless n elements of at least min_bytes each could still follow: a
    // corrupted count then fails here instead of reserving gigabytes.
    uint64_t count(uint64_t n, size_t min_bytes, const char *what) {
        if (!ok()) return 0;
        if (n > remaining() / std::max<size_t>(min_bytes, 1)) {
            fail("corrupted payload: " + std::to_string(n) + " " + what + " at offset " +
                 std::to_string(offset()) + " cannot fit in the " + std::to_string(remaining()) +
                 " bytes left");
            return 0;
        }
        return n;
    }
    // n contiguous bytes, valid until the next read; nullptr (failed) when fewer are left. A field
    // that straddles two pieces is copied, so callers read long lists in bounded batches.
    const uint8_t *take(size_t n, const char *what) {
        if (!ok() || !room(n, what)) return nullptr;
        if (piece_.size() - at_ >= n) {
            const uint8_t *p = piece_.data() + at_;
            at_ += n;
            return p;
        }
        joint_.clear();
        while (joint_.size() < n) {
            if (at_ == piece_.size() && !advance(what)) return nullptr;
            const size_t k = std::min(n - joint_.size(), piece_.size() - at_);
            joint_.insert(joint_.end(), piece_.data() + at_, piece_.data() + at_ + k);
            at_ += k;
        }
        return joint_.data();
    }
    // True when everything was read without a failure; otherwise fails naming the bytes left.
    bool done() {
        if (!ok()) return false;
        if (remaining() != 0)
            return fail(std::to_string(remaining()) + " unexpected trailing bytes");
        return true;
    }

private:
    bool room(uint64_t n, const char *what) {
        if (n <= remaining()) return true;
        fail("truncated payload: " + std::string(what) + " at offset " + std::to_string(offset()) +
             " needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left");
        return false;
    }
    // The next piece of a stream; false (failed) when there is none.
    bool advance(const char *what) {
        base_ += piece_.size();
        at_ = 0;
        piece_ = {};
        std::string why;
        if (!source_ || !source_->next(&piece_, &why)) {
            fail(why.empty() ? "truncated payload: " + std::string(what) + " at offset " +
                                   std::to_string(offset()) + ": the data ended"
                             : why);
            return false;
        }
        if (piece_.empty() || piece_.size() > size_ - base_) {
            fail(piece_.empty() ? "truncated payload: " + std::string(what) + " at offset " +
                                      std::to_string(offset()) + ": the data ended"
                                : "corrupted payload: more data than the " + std::to_string(size_) +
                                      " bytes announced");
            piece_ = {};
            return false;
        }
        return true;
    }

    std::span<const uint8_t> piece_; // the current piece (the whole input for a span)
    size_t at_ = 0;                  // read position in piece_
    uint64_t base_ = 0;              // input offset of piece_'s first byte
    PieceSource *source_ = nullptr;  // null: piece_ is all there is
    uint64_t size_ = 0;              // the input's declared size
    std::vector<uint8_t> joint_;     // a field that straddles two pieces
    std::string error_;
};

} // namespace nm::bytes

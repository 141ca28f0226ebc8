// protobuf_out.hpp - a minimal protocol-buffers wire encoder (varints, length-delimited fields).
//
// The pprof writer is its only user. profile.proto needs four wire forms (varint, packed varints,
// strings, nested messages), which fit in this header; libprotobuf would bring a multi-megabyte
// runtime, generated code and its static initializers into libnmapi, which every analyzer loads.
// Nested messages are encoded into a separate buffer and then appended with their length, so a
// message is built bottom up; every pprof message is small, so the copy costs little.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nm::report::detail {

class ProtoOut {
public:
    explicit ProtoOut(std::string &out) : out_(out) {}

    // Field values equal to zero are left out, as proto3 does for scalars; packed repeated values
    // keep their zeros (their position is their meaning).
    void uint(uint32_t field, uint64_t v) {
        if (v == 0) return;
        tag(field, 0);
        varint(v);
    }
    void sint(uint32_t field, int64_t v) { uint(field, static_cast<uint64_t>(v)); } // int64: two's complement
    void boolean(uint32_t field, bool v) { uint(field, v ? 1 : 0); }
    // Strings and nested messages (already encoded) are length-delimited.
    void bytes(uint32_t field, std::string_view v) {
        tag(field, 2);
        varint(v.size());
        out_.append(v.data(), v.size());
    }
    // A packed repeated int64/uint64 field.
    template <typename It>
    void packed(uint32_t field, It first, It last, std::string &scratch) {
        scratch.clear();
        ProtoOut body(scratch);
        for (It it = first; it != last; ++it) body.varint(static_cast<uint64_t>(*it));
        if (!scratch.empty()) bytes(field, scratch);
    }

    void varint(uint64_t v) {
        while (v >= 0x80) {
            out_ += static_cast<char>(static_cast<uint8_t>(v) | 0x80);
            v >>= 7;
        }
        out_ += static_cast<char>(static_cast<uint8_t>(v));
    }

private:
    void tag(uint32_t field, uint32_t wire) { varint(uint64_t{field} << 3 | wire); }

    std::string &out_;
};

} // namespace nm::report::detail

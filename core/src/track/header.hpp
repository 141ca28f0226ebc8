// header.hpp - the 16 bytes in front of every tracked block, and the one check that trusts them.
//
// A header is read only once the live map says its block is live and the reader holds the
// block's claim. Its checked word sits right before the user bytes, where an expert's buffer
// underflow lands first; check_header() is the only place that decides whether a header is intact
// and whose it is.
#pragma once

#include <cstdint>

namespace nm::track {

struct BlockHeader {
    uint32_t stack;    // depot id | function family << 28 (see header_stack_id)
    uint32_t time_ms;  // ms since the tracker started (wraps after 49 days)
    uint64_t word;     // size (40 bits) | slot (16 bits) | check (8 bits)
};
static_assert(sizeof(BlockHeader) == 16, "the header keeps user pointers 16-aligned");

// BlockHeader::stack: the depot id in the low 28 bits (the depot's limit), and in the top bits
// the function family that made the block: 0 for the expert API, heap::Fn for malloc/new/new[].
inline constexpr uint32_t kStackIdMask = (1u << 28) - 1;
inline uint32_t header_stack_id(uint32_t stack) noexcept { return stack & kStackIdMask; }
inline uint32_t header_fn(uint32_t stack) noexcept { return stack >> 28; }

inline constexpr uint64_t kMaxBlockSize = (uint64_t{1} << 40) - 1;

// The multiply carries every bit of size, slot and generation into the top byte.
inline uint8_t header_check_byte(uint64_t size, uint32_t slot, uint32_t gen) noexcept {
    const uint64_t x = (size ^ (uint64_t(slot) << 40) ^ (uint64_t(gen) << 13)) * 0x9E3779B97F4A7C15ull;
    return uint8_t((x >> 56) ^ 0x5A);
}
inline uint64_t header_word(uint64_t size, uint32_t slot, uint32_t gen) noexcept {
    return size | (uint64_t(slot) << 40) | (uint64_t(header_check_byte(size, slot, gen)) << 56);
}

// The same word with the key's parts precomputed once per thread and key handle (ThreadState's
// lane cache): salt = header_salt(slot, gen), base = header_base(slot). Bit for bit header_word().
inline uint64_t header_salt(uint32_t slot, uint32_t gen) noexcept {
    return (uint64_t(slot) << 40) ^ (uint64_t(gen) << 13);
}
inline uint64_t header_base(uint32_t slot) noexcept { return (uint64_t(slot & 0xffff) << 40) | (uint64_t{0x5A} << 56); }
// size must be <= kMaxBlockSize (below).
inline uint64_t header_word_keyed(uint64_t size, uint64_t base, uint64_t salt) noexcept {
    const uint64_t x = (size ^ salt) * 0x9E3779B97F4A7C15ull;
    return size | ((x & (uint64_t{0xff} << 56)) ^ base);
}

inline uint64_t header_size(uint64_t w) noexcept { return w & kMaxBlockSize; }
inline uint32_t header_slot(uint64_t w) noexcept { return uint32_t(w >> 40) & 0xffff; }

enum class HeaderCheck : uint8_t {
    Ok,        // a block of key (slot, gen)
    OtherSlot, // names another key slot: another key's block, or an overwritten header
    Corrupt,   // names this slot but its check byte does not match: overwritten
};

inline HeaderCheck check_header(uint64_t w, uint32_t slot, uint32_t gen) noexcept {
    if (__builtin_expect(header_slot(w) != slot, 0)) return HeaderCheck::OtherSlot;
    if (__builtin_expect(uint8_t(w >> 56) != header_check_byte(header_size(w), slot, gen), 0))
        return HeaderCheck::Corrupt;
    return HeaderCheck::Ok;
}

// check_header() with the key's parts precomputed (see header_word_keyed): the word an intact
// header of this key would hold for its size, compared whole, so the common case is one compare;
// only a mismatch says which kind it is.
inline HeaderCheck check_header_keyed(uint64_t w, uint64_t base, uint64_t salt) noexcept {
    if (__builtin_expect(w == header_word_keyed(w & ((uint64_t{1} << 40) - 1), base, salt), 1)) return HeaderCheck::Ok;
    return ((w ^ base) & (uint64_t{0xffff} << 40)) ? HeaderCheck::OtherSlot : HeaderCheck::Corrupt;
}

inline BlockHeader *header_of(uintptr_t user) noexcept {
    return reinterpret_cast<BlockHeader *>(user - sizeof(BlockHeader));
}

} // namespace nm::track

// test_track_walker.cpp - the frame-pointer walker (on built frames and on this thread's own
// stack) and the block header check.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "track/header.hpp"
#include "track/stack_depot.hpp"
#include "track/unwind.hpp"

namespace {

using nm::track::StackBounds;
using nm::track::walk_frame_pointers;

// A fake stack: frame i at words[2*i] = {next frame pointer, return address}.
struct FakeStack {
    std::vector<uintptr_t> words = std::vector<uintptr_t>(64, 0);
    StackBounds bounds() const {
        return {reinterpret_cast<uintptr_t>(words.data()), reinterpret_cast<uintptr_t>(words.data() + words.size())};
    }
    uintptr_t at(size_t i) const { return reinterpret_cast<uintptr_t>(&words[2 * i]); }
    void frame(size_t i, uintptr_t next, uintptr_t ret) {
        words[2 * i] = next;
        words[2 * i + 1] = ret;
    }
};

TEST(FrameWalker, FollowsTheChainAndHashesInOnePass) {
    FakeStack s;
    for (size_t i = 0; i < 5; ++i) s.frame(i, s.at(i + 1), 0x401000 + i);
    s.frame(5, 0, 0x402000); // next 0 <= fp: the walk ends after this frame
    uintptr_t out[16];
    const auto w = walk_frame_pointers(reinterpret_cast<void *>(s.at(0)), s.bounds(), out, 16);
    ASSERT_EQ(w.n, 6u);
    for (size_t i = 0; i < 5; ++i) EXPECT_EQ(out[i], 0x401000 + i);
    EXPECT_EQ(out[5], 0x402000u);
    EXPECT_EQ(w.hash, nm::track::stack_hash(out, 6));
}

TEST(FrameWalker, StopsAtMaxDepth) {
    FakeStack s;
    for (size_t i = 0; i < 20; ++i) s.frame(i, s.at(i + 1), 0x401000 + i);
    uintptr_t out[8];
    const auto w = walk_frame_pointers(reinterpret_cast<void *>(s.at(0)), s.bounds(), out, 8);
    EXPECT_EQ(w.n, 8u);
    EXPECT_EQ(w.hash, nm::track::stack_hash(out, 8));
}

TEST(FrameWalker, StopsAtBadFramePointers) {
    uintptr_t out[16];
    {
        FakeStack s; // the next frame pointer leaves the stack
        s.frame(0, s.at(1), 0x401000);
        s.frame(1, s.bounds().hi + 64, 0x401001);
        EXPECT_EQ(walk_frame_pointers(reinterpret_cast<void *>(s.at(0)), s.bounds(), out, 16).n, 2u);
    }
    {
        FakeStack s; // misaligned next frame pointer
        s.frame(0, s.at(1) + 3, 0x401000);
        EXPECT_EQ(walk_frame_pointers(reinterpret_cast<void *>(s.at(0)), s.bounds(), out, 16).n, 1u);
    }
    {
        FakeStack s; // a frame that points back up the stack (a loop)
        s.frame(0, s.at(1), 0x401000);
        s.frame(1, s.at(0), 0x401001);
        EXPECT_EQ(walk_frame_pointers(reinterpret_cast<void *>(s.at(0)), s.bounds(), out, 16).n, 2u);
    }
    {
        FakeStack s; // a return address in the zero page ends the walk before storing it
        s.frame(0, s.at(1), 0x401000);
        s.frame(1, s.at(2), 12);
        EXPECT_EQ(walk_frame_pointers(reinterpret_cast<void *>(s.at(0)), s.bounds(), out, 16).n, 1u);
    }
    {
        FakeStack s; // a starting frame outside the bounds: nothing
        const auto w = walk_frame_pointers(reinterpret_cast<void *>(s.bounds().hi), s.bounds(), out, 16);
        EXPECT_EQ(w.n, 0u);
        EXPECT_EQ(w.hash, nm::track::stack_hash(out, 0));
    }
}

__attribute__((noinline)) size_t walk_here(uintptr_t *out, size_t max) {
    size_t n = walk_frame_pointers(__builtin_frame_address(0), nm::track::current_stack_bounds(), out, max).n;
    asm volatile("" ::: "memory");
    return n;
}
__attribute__((noinline)) size_t one_deeper(uintptr_t *out, size_t max) {
    size_t n = walk_here(out, max);
    asm volatile("" ::: "memory");
    return n;
}

TEST(FrameWalker, WalksThisThreadsRealStack) {
    uintptr_t a[64], b[64];
    const size_t na = walk_here(a, 64);
    const size_t nb = one_deeper(b, 64);
    ASSERT_GE(na, 2u) << "the test is built with frame pointers";
    EXPECT_EQ(nb, na + 1) << "one more frame one call deeper";
}

using nm::track::check_header;
using nm::track::header_word;
using nm::track::HeaderCheck;

TEST(HeaderCheck, AcceptsItsOwnAndTellsOtherSlotFromCorrupt) {
    const uint64_t w = header_word(1000, 7, 3);
    EXPECT_EQ(nm::track::header_size(w), 1000u);
    EXPECT_EQ(nm::track::header_slot(w), 7u);
    EXPECT_EQ(check_header(w, 7, 3), HeaderCheck::Ok);
    EXPECT_EQ(check_header(w, 8, 3), HeaderCheck::OtherSlot);
    EXPECT_EQ(check_header(w, 7, 4), HeaderCheck::Corrupt) << "a stale generation: the key was reopened";
    EXPECT_EQ(check_header(w ^ 1, 7, 3), HeaderCheck::Corrupt) << "the size was overwritten";
    EXPECT_EQ(check_header(w ^ (uint64_t{1} << 60), 7, 3), HeaderCheck::Corrupt) << "the check byte was";
    EXPECT_EQ(check_header(header_word(nm::track::kMaxBlockSize, 65535, ~0u), 65535, ~0u), HeaderCheck::Ok);
}

TEST(HeaderCheck, OneByteOfUnderflowIsCaughtForEverySizeClass) {
    // An expert writing one byte before its buffer overwrites the check byte (the top byte of the
    // word, just below the user bytes): every other value is refused.
    for (uint64_t size : {1ull, 16ull, 255ull, 4096ull, 65536ull}) {
        const uint64_t w = header_word(size, 42, 9);
        for (unsigned v = 0; v < 256; ++v) {
            const uint64_t bad = (w & ~(uint64_t{0xff} << 56)) | (uint64_t(v) << 56);
            if (bad == w) continue;
            EXPECT_NE(check_header(bad, 42, 9), HeaderCheck::Ok) << size << " " << v;
        }
    }
}

} // namespace

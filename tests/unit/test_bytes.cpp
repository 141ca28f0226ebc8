// test_bytes.cpp - nm::bytes: the little-endian reader and writer under the snapshot and wire codecs.
#include "model/bytes.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using nm::bytes::PieceSource;
using nm::bytes::Reader;
using nm::bytes::Writer;

namespace {

// Hands out a buffer in pieces of a fixed size.
class Pieces final : public PieceSource {
public:
    Pieces(std::vector<uint8_t> data, size_t piece) : data_(std::move(data)), piece_(piece) {}
    bool next(std::span<const uint8_t> *out, std::string *) override {
        const size_t n = std::min(piece_, data_.size() - at_);
        *out = std::span<const uint8_t>(data_).subspan(at_, n);
        at_ += n;
        return true;
    }

private:
    std::vector<uint8_t> data_;
    size_t piece_;
    size_t at_ = 0;
};

std::vector<uint8_t> sample() {
    std::vector<uint8_t> out;
    Writer w(&out);
    w.u8(0xab);
    w.u16(0x1234);
    w.u32(0xdeadbeef);
    w.i32(-2);
    w.u64(0x0102030405060708ull);
    w.str("hello");
    w.str("");
    return out;
}

} // namespace

TEST(Bytes, WriterIsLittleEndianWithoutPadding) {
    const std::vector<uint8_t> b = sample();
    const std::vector<uint8_t> want = {0xab, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 0xfe, 0xff, 0xff, 0xff,
                                       8,    7,    6,    5,    4,    3,    2,    1,    5,    0,    0,
                                       0,    'h',  'e',  'l',  'l',  'o',  0,    0,    0,    0};
    EXPECT_EQ(b, want);
}

TEST(Bytes, PatchAndAppendToExistingBytes) {
    std::vector<uint8_t> out = {9, 9};
    Writer w(&out);
    const size_t at = w.size();
    w.u32(0);
    w.raw("xyz", 3);
    w.patch32(at, uint32_t(w.size() - at));
    EXPECT_EQ(out, (std::vector<uint8_t>{9, 9, 7, 0, 0, 0, 'x', 'y', 'z'}));
}

TEST(Bytes, ReaderReadsWhatTheWriterWrote) {
    const std::vector<uint8_t> b = sample();
    for (size_t piece : {size_t(0), size_t(1), size_t(3), size_t(7)}) {
        Pieces src(b, piece == 0 ? b.size() : piece);
        Reader span_reader{std::span<const uint8_t>(b)};
        Reader stream_reader(src, b.size());
        Reader &r = piece == 0 ? span_reader : stream_reader;
        EXPECT_EQ(r.u8("a"), 0xab);
        EXPECT_EQ(r.u16("b"), 0x1234);
        EXPECT_EQ(r.u32("c"), 0xdeadbeefu);
        EXPECT_EQ(r.i32("d"), -2);
        EXPECT_EQ(r.u64("e"), 0x0102030405060708ull);
        EXPECT_EQ(r.str("f"), "hello");
        EXPECT_EQ(r.str("g"), "");
        EXPECT_TRUE(r.done()) << piece << ": " << r.error();
        EXPECT_EQ(r.offset(), b.size());
    }
}

// Every prefix of a valid input fails cleanly, names the field, and the failure sticks.
TEST(Bytes, TruncatedInputFailsAtEveryLength) {
    const std::vector<uint8_t> b = sample();
    for (size_t n = 0; n < b.size(); ++n) {
        std::vector<uint8_t> cut(b.begin(), b.begin() + ptrdiff_t(n)); // own buffer: ASan sees overreads
        Reader r{std::span<const uint8_t>(cut)};
        r.u8("a");
        r.u16("b");
        r.u32("c");
        r.i32("d");
        r.u64("e");
        r.str("f");
        r.str("g");
        EXPECT_FALSE(r.done()) << n;
        EXPECT_NE(r.error().find("truncated payload"), std::string::npos) << n << ": " << r.error();
        EXPECT_LE(r.offset(), n);
        EXPECT_EQ(r.u64("after"), 0u); // stays failed, returns zeros
        EXPECT_EQ(r.str("after"), "");
    }
}

TEST(Bytes, TrailingBytesAreRefused) {
    std::vector<uint8_t> b = sample();
    b.push_back(0);
    Reader r{std::span<const uint8_t>(b)};
    r.take(b.size() - 1, "all but one");
    EXPECT_TRUE(r.ok());
    EXPECT_FALSE(r.done());
    EXPECT_EQ(r.error(), "1 unexpected trailing bytes");
}

// A string that claims 4 GiB in a 10-byte input fails before anything is allocated for it, and so
// does one above the caller's limit.
TEST(Bytes, HugeLengthsFailBeforeAllocating) {
    std::vector<uint8_t> b;
    Writer w(&b);
    w.u32(std::numeric_limits<uint32_t>::max());
    w.raw("abcdef", 6);
    {
        Reader r{std::span<const uint8_t>(b)};
        EXPECT_EQ(r.str("name"), "");
        EXPECT_FALSE(r.ok());
        EXPECT_NE(r.error().find("name at offset 4 needs 4294967295 bytes, 6 left"), std::string::npos)
            << r.error();
    }
    {
        Pieces src(b, 3);
        Reader r(src, b.size());
        EXPECT_EQ(r.str("name"), "");
        EXPECT_NE(r.error().find("truncated payload"), std::string::npos) << r.error();
    }
    {
        std::vector<uint8_t> c;
        Writer cw(&c);
        cw.str("a longer text");
        Reader r{std::span<const uint8_t>(c)};
        EXPECT_EQ(r.str("client", 4), "");
        EXPECT_EQ(r.error(), "client: a text field of 13 bytes (limit 4)");
    }
}

TEST(Bytes, CountsAreCheckedAgainstTheBytesLeft) {
    std::vector<uint8_t> b(100, 0);
    Reader r{std::span<const uint8_t>(b)};
    EXPECT_EQ(r.count(5, 20, "groups"), 5u); // exactly fits
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.count(6, 20, "groups"), 0u);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error().find("6 groups at offset 0 cannot fit in the 100 bytes left"), std::string::npos)
        << r.error();

    Reader huge{std::span<const uint8_t>(b)};
    EXPECT_EQ(huge.count(std::numeric_limits<uint64_t>::max(), 1, "blocks"), 0u);
    EXPECT_FALSE(huge.ok());
}

// A stream whose pieces carry more than the declared size, or that ends early, fails cleanly.
TEST(Bytes, StreamThatLiesAboutItsSize) {
    const std::vector<uint8_t> b = sample();
    {
        Pieces src(b, b.size());
        Reader r(src, b.size() - 4); // the piece is bigger than the whole declared input
        r.u8("a");
        EXPECT_NE(r.error().find("more data than the"), std::string::npos) << r.error();
    }
    {
        Pieces src(std::vector<uint8_t>(b.begin(), b.begin() + 12), 5);
        Reader r(src, b.size()); // announces more than arrives
        r.u64("a");
        EXPECT_TRUE(r.ok());
        EXPECT_EQ(r.u64("b"), 0u);
        EXPECT_NE(r.error().find("the data ended"), std::string::npos) << r.error();
    }
}

TEST(Bytes, ExpectComparesAndConsumes) {
    const uint8_t magic[4] = {'N', 'M', 'L', 'K'};
    const std::vector<uint8_t> good = {'N', 'M', 'L', 'K', 1};
    Reader r{std::span<const uint8_t>(good)};
    EXPECT_TRUE(r.expect(magic, "magic", "bad magic"));
    EXPECT_EQ(r.u8("x"), 1);
    const std::vector<uint8_t> bad = {'N', 'M', 'X', 'K'};
    Reader q{std::span<const uint8_t>(bad)};
    EXPECT_FALSE(q.expect(magic, "magic", "bad magic"));
    EXPECT_EQ(q.error(), "bad magic");
}

TEST(Bytes, WriterRefusesCountsAboveU32) {
    std::vector<uint8_t> out;
    Writer w(&out, "snapshot");
    EXPECT_THROW(w.count32(size_t(1) << 32, "frames"), std::length_error);
    try {
        w.count32(size_t(1) << 32, "frames");
    } catch (const std::length_error &e) {
        EXPECT_STREQ(e.what(), "too many frames for the snapshot format");
    }
    EXPECT_TRUE(out.empty());
}

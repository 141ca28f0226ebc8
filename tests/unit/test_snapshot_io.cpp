// test_snapshot_io.cpp - snapshot codec: round trips, the checked-in v1 file, and hostile input.
#include <nmleak/snapshot_io.hpp>

#include "unit/golden.hpp"
#include "unit/report_sample.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

namespace io = nm::snapshot_io;

namespace {

std::vector<uint8_t> payload_of(const nm::model::Snapshot &s) {
    std::vector<uint8_t> p;
    io::encode_payload(s, &p);
    return p;
}

// Equality through the payload encoding: every field is encoded, so a decoder that drops or
// garbles one shows up as a byte difference.
void expect_same(const nm::model::Snapshot &a, const nm::model::Snapshot &b) {
    EXPECT_EQ(payload_of(a), payload_of(b));
}

std::vector<uint8_t> encoded(const nm::model::Snapshot &s, int level = 3) {
    std::vector<uint8_t> bytes;
    std::string error;
    EXPECT_TRUE(io::encode(s, &bytes, &error, {level})) << error;
    return bytes;
}

std::string decode_error(std::span<const uint8_t> bytes, io::DecodeLimits limits = {}) {
    nm::model::Snapshot out;
    std::string error;
    if (io::decode(bytes, &out, &error, limits)) return "<decoded>";
    EXPECT_FALSE(error.empty());
    return error;
}

void put32(std::vector<uint8_t> &b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(std::vector<uint8_t> &b, size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
// Re-seals a hand-edited container so the checks under test are reached past the CRCs.
void reseal(std::vector<uint8_t> &b) {
    put32(b, 32, io::crc32({b.data() + io::kHeaderSize, b.size() - io::kHeaderSize}));
    put32(b, 36, io::crc32({b.data(), 36}));
}

std::string temp_path(const char *name) {
    return std::string(NM_TEST_BINARY_DIR) + "/" + name + "." + std::to_string(::getpid());
}

TEST(SnapshotIo, Crc32MatchesTheStandardCheckValue) {
    const char *s = "123456789";
    EXPECT_EQ(io::crc32({reinterpret_cast<const uint8_t *>(s), 9}), 0xCBF43926u);
    EXPECT_EQ(io::crc32({}), 0u);
}

TEST(SnapshotIo, RoundTripSample) {
    auto s = nm::test::sample_snapshot();
    auto bytes = encoded(s);
    ASSERT_TRUE(io::has_magic(bytes));
    nm::model::Snapshot back;
    std::string error;
    ASSERT_TRUE(io::decode(bytes, &back, &error)) << error;
    expect_same(s, back);
    EXPECT_EQ(back.version, io::kFormatVersion);
    EXPECT_EQ(back.experts[1].blocks[2].size, 128u);
    EXPECT_EQ(back.frames[4].file, "/src/experts/dns/cache c.c");
    EXPECT_EQ(back.experts[2].outcome_detail, "SIGSEGV at 0x10");
    EXPECT_EQ(back.experts[0].misuse[0].kind, nm::model::MisuseKind::DoubleFree);
}

// Every field version 2 added survives a round trip.
TEST(SnapshotIo, RoundTripVersion2Fields) {
    auto s = nm::test::sample_snapshot();
    s.process.heap_tracked = true;
    s.process.foreign_frees = 17;
    s.process.reach_classified = true;
    nm::model::Expert &e = s.experts[1];
    e.kind = nm::model::KeyKind::Module;
    e.blocks[0].origin = nm::model::BlockOrigin::Heap;
    e.blocks[0].reach = nm::model::Reach::IndirectlyLost;
    e.blocks[1].reach = nm::model::Reach::DefinitelyLost;
    nm::model::Event ev;
    ev.time_ms = 5;
    ev.ident = 7;
    ev.flags = 1;
    ev.severity = 3;
    ev.justification = 2;
    ev.source = "src";
    ev.name = "Retransmit";
    ev.description = "many";
    ev.machine = "host";
    ev.url = "http://x";
    ev.event_unix_ms = 1714557600123;
    ev.columns.push_back({"frames", 4, "12"});
    e.events.push_back(ev);
    e.events_dropped = 9;
    nm::model::Cleanup &c = s.experts[0].cleanups[0];
    c.left_blocks = 2;
    c.left_bytes = 40;
    c.left_stacks.push_back({1, 2, 40});

    nm::model::Snapshot back;
    std::string error;
    ASSERT_TRUE(io::decode(encoded(s), &back, &error)) << error;
    expect_same(s, back);
    EXPECT_TRUE(back.process.heap_tracked);
    EXPECT_EQ(back.process.foreign_frees, 17u);
    EXPECT_EQ(back.experts[1].kind, nm::model::KeyKind::Module);
    EXPECT_EQ(back.experts[1].blocks[0].origin, nm::model::BlockOrigin::Heap);
    EXPECT_EQ(back.experts[1].blocks[1].reach, nm::model::Reach::DefinitelyLost);
    ASSERT_EQ(back.experts[1].events.size(), 1u);
    EXPECT_EQ(back.experts[1].events[0].columns[0].value, "12");
    EXPECT_EQ(back.experts[1].events_dropped, 9u);
    EXPECT_EQ(back.experts[0].cleanups[0].left_stacks[0].bytes, 40u);

    // An unknown reachability class is refused, not passed on.
    s.experts[1].blocks[0].reach = static_cast<nm::model::Reach>(9);
    EXPECT_FALSE(io::decode(encoded(s), &back, &error));
    EXPECT_NE(error.find("unknown origin or reachability"), std::string::npos) << error;
}

// The opt-in reclaim of left-behind blocks adds an optional section after the heap section: a
// payload without reclaim data is laid out exactly as before (what older v2 readers and files
// have), and one with it round trips and is checked like the other cleanup stacks.
TEST(SnapshotIo, ReclaimedLeftBehindIsAnOptionalTrailingSection) {
    nm::model::Snapshot s = nm::test::sample_snapshot();
    ASSERT_FALSE(s.experts.empty());
    ASSERT_FALSE(s.experts[0].cleanups.empty());
    const std::vector<uint8_t> before = payload_of(s);
    const std::vector<uint8_t> reclaim_marker = {0x52, 0x45, 0x43, 0x4C}; // "RECL", little-endian
    EXPECT_EQ(std::search(before.begin(), before.end(), reclaim_marker.begin(), reclaim_marker.end()), before.end());
    nm::model::Snapshot plain;
    std::string error;
    ASSERT_TRUE(io::decode(encoded(s), &plain, &error)) << error;
    for (const nm::model::Expert &e : plain.experts)
        for (const nm::model::Cleanup &c : e.cleanups) {
            EXPECT_EQ(c.reclaimed_left_blocks, 0u);
            EXPECT_TRUE(c.reclaimed_left_stacks.empty());
            EXPECT_TRUE(c.reclaim_note.empty());
        }

    nm::model::Cleanup &c = s.experts[0].cleanups[0];
    c.reclaimed_left_blocks = 10;
    c.reclaimed_left_bytes = 8512;
    c.reclaimed_left_stacks.push_back({1, 8, 8000});
    c.reclaimed_left_stacks.push_back({0, 2, 512});
    if (s.experts.size() > 1 && !s.experts[1].cleanups.empty())
        s.experts[1].cleanups[0].reclaim_note = "none reclaimed: the reachability pass could not stop every thread";
    const std::vector<uint8_t> after = payload_of(s);
    // The marker, then per cleanup: blocks, bytes, the groups (a count and 20 bytes each), the note.
    size_t section = 4;
    for (const nm::model::Expert &e : s.experts)
        for (const nm::model::Cleanup &x : e.cleanups)
            section += 8 + 8 + 4 + 20 * x.reclaimed_left_stacks.size() + 4 + x.reclaim_note.size();
    EXPECT_EQ(after.size(), before.size() + section);
    nm::model::Snapshot back;
    ASSERT_TRUE(io::decode(encoded(s), &back, &error)) << error;
    expect_same(s, back);
    EXPECT_EQ(back.experts[0].cleanups[0].reclaimed_left_blocks, 10u);
    EXPECT_EQ(back.experts[0].cleanups[0].reclaimed_left_bytes, 8512u);
    ASSERT_EQ(back.experts[0].cleanups[0].reclaimed_left_stacks.size(), 2u);
    EXPECT_EQ(back.experts[0].cleanups[0].reclaimed_left_stacks[0].bytes, 8000u);

    // A reclaimed stack that does not exist is refused, by name.
    c.reclaimed_left_stacks[0].stack = uint32_t(s.stacks.size() + 5);
    EXPECT_FALSE(io::decode(encoded(s), &back, &error));
    EXPECT_NE(error.find("reclaimed stack"), std::string::npos) << error;
}

TEST(SnapshotIo, RoundTripEmptyAndUncompressed) {
    nm::model::Snapshot empty;
    nm::model::Snapshot back;
    std::string error;
    ASSERT_TRUE(io::decode(encoded(empty), &back, &error)) << error;
    expect_same(empty, back);
    auto s = nm::test::sample_snapshot();
    ASSERT_TRUE(io::decode(encoded(s, 0), &back, &error)) << error;
    expect_same(s, back);
}

TEST(SnapshotIo, RoundTripFile) {
    auto s = nm::test::sample_snapshot();
    std::string path = temp_path("roundtrip.nmsnap"), error;
    ASSERT_TRUE(io::write_file(s, path, &error)) << error;
    nm::model::Snapshot back;
    ASSERT_TRUE(io::read_file(path, &back, &error)) << error;
    expect_same(s, back);
    ::unlink(path.c_str());
}

// The checked-in file pins format version 1: a build that can no longer read it broke the format.
TEST(SnapshotIo, ReadsTheCheckedInVersion1File) {
    const std::string path = nm::test::golden_path("sample.nmsnap");
    std::string error;
    if (const char *u = std::getenv("NMLEAK_UPDATE_GOLDEN"); u && *u && std::string(u) != "0") {
        ASSERT_TRUE(io::write_file(nm::test::sample_snapshot(), path, &error)) << error;
    }
    nm::model::Snapshot back;
    ASSERT_TRUE(io::read_file(path, &back, &error)) << error;
    expect_same(nm::test::sample_snapshot(), back);
}

TEST(SnapshotIo, EmptyInput) {
    EXPECT_NE(decode_error({}).find("empty input"), std::string::npos);
    std::string path = temp_path("empty.nmsnap"), error;
    std::ofstream(path).close();
    nm::model::Snapshot out;
    EXPECT_FALSE(io::read_file(path, &out, &error));
    EXPECT_NE(error.find("empty input"), std::string::npos) << error;
    EXPECT_NE(error.find(path), std::string::npos) << error;
    ::unlink(path.c_str());
}

TEST(SnapshotIo, WrongMagic) {
    auto bytes = encoded(nm::test::sample_snapshot());
    bytes[0] = 'X';
    EXPECT_NE(decode_error(bytes).find("bad magic"), std::string::npos);
    const std::string text = "{\"version\": 1}";
    EXPECT_NE(decode_error({reinterpret_cast<const uint8_t *>(text.data()), text.size()}).find("bad magic"),
              std::string::npos);
}

TEST(SnapshotIo, WrongVersion) {
    auto bytes = encoded(nm::test::sample_snapshot());
    put32(bytes, 8, 3);
    reseal(bytes);
    std::string e = decode_error(bytes);
    EXPECT_NE(e.find("unsupported snapshot format version 3"), std::string::npos) << e;
    EXPECT_NE(e.find("newer"), std::string::npos) << e;
    put32(bytes, 8, 0);
    reseal(bytes);
    EXPECT_NE(decode_error(bytes).find("version 0"), std::string::npos);
}

TEST(SnapshotIo, EveryTruncationIsRefused) {
    auto bytes = encoded(nm::test::sample_snapshot());
    for (size_t n = 0; n < bytes.size(); ++n) {
        std::string e = decode_error({bytes.data(), n});
        ASSERT_NE(e, "<decoded>") << "prefix of " << n << " bytes decoded";
        if (n >= sizeof io::kMagic) {
            EXPECT_NE(e.find("truncated"), std::string::npos) << n << ": " << e;
        }
    }
}

TEST(SnapshotIo, EveryBitFlipIsRefused) {
    for (int level : {3, 0}) {
        auto bytes = encoded(nm::test::sample_snapshot(), level);
        for (size_t i = 0; i < bytes.size(); ++i)
            for (int bit = 0; bit < 8; ++bit) {
                bytes[i] ^= static_cast<uint8_t>(1u << bit);
                std::string e = decode_error(bytes);
                ASSERT_NE(e, "<decoded>") << "flip of bit " << bit << " of byte " << i;
                bytes[i] ^= static_cast<uint8_t>(1u << bit);
            }
    }
}

TEST(SnapshotIo, CorruptionMessagesNameTheProblem) {
    auto bytes = encoded(nm::test::sample_snapshot());
    auto flipped = bytes;
    flipped[io::kHeaderSize + 5] ^= 0x40;
    EXPECT_NE(decode_error(flipped).find("data checksum mismatch"), std::string::npos);
    flipped = bytes;
    flipped[20] ^= 1;
    EXPECT_NE(decode_error(flipped).find("header checksum mismatch"), std::string::npos);
    auto longer = bytes;
    longer.push_back(0);
    EXPECT_NE(decode_error(longer).find("unexpected bytes after"), std::string::npos);
}

TEST(SnapshotIo, HostileSizesAreRefusedWithoutAllocating) {
    auto bytes = encoded(nm::test::sample_snapshot());
    // A payload size beyond the limit.
    auto big = bytes;
    put64(big, 16, uint64_t{1} << 62);
    reseal(big);
    EXPECT_NE(decode_error(big).find("exceeds the limit"), std::string::npos);
    // A stored size no zstd frame of that payload could have.
    auto stored = bytes;
    put64(stored, 24, uint64_t{1} << 40);
    reseal(stored);
    EXPECT_NE(decode_error(stored).find("cannot encode"), std::string::npos);
    // A payload size smaller than what the frame really holds.
    auto small = bytes;
    put64(small, 16, 10);
    reseal(small);
    EXPECT_NE(decode_error(small).find("corrupted"), std::string::npos);
    // A tight decoder limit.
    EXPECT_NE(decode_error(bytes, {64}).find("exceeds the limit"), std::string::npos);
}

TEST(SnapshotIo, HostileCountsInAValidContainer) {
    // An uncompressed container lets the test edit payload fields directly and re-seal.
    nm::model::Snapshot s;
    s.stacks.push_back({});
    auto bytes = encoded(s, 0);
    // Payload: i32 pid, 3 empty strings, u64, u64, u32, u8, u64, u8 -> module count at offset
    // 4+12+16+4+10 = 46.
    const size_t modules_at = io::kHeaderSize + 46;
    put32(bytes, modules_at, 0xFFFFFFFFu);
    reseal(bytes);
    std::string e = decode_error(bytes);
    EXPECT_NE(e.find("cannot fit"), std::string::npos) << e;

    // A stack that names a frame that does not exist.
    nm::model::Snapshot t;
    t.stacks = {{}, {{5}}};
    std::string error;
    std::vector<uint8_t> payload;
    io::encode_payload(t, &payload);
    nm::model::Snapshot out;
    EXPECT_FALSE(io::decode_payload(payload, &out, &error));
    EXPECT_NE(error.find("refers to frame 5"), std::string::npos) << error;

    // An enum out of range.
    nm::model::Snapshot u;
    u.experts.emplace_back();
    u.experts[0].state = static_cast<nm::model::ExpertState>(9);
    payload.clear();
    io::encode_payload(u, &payload);
    EXPECT_FALSE(io::decode_payload(payload, &out, &error));
    EXPECT_NE(error.find("unknown state 9"), std::string::npos) << error;
}

TEST(SnapshotIo, FileErrorsNameThePath) {
    nm::model::Snapshot out;
    std::string error;
    EXPECT_FALSE(io::read_file("/nonexistent/dir/x.nmsnap", &out, &error));
    EXPECT_NE(error.find("/nonexistent/dir/x.nmsnap"), std::string::npos) << error;
    EXPECT_NE(error.find("No such file"), std::string::npos) << error;
    EXPECT_FALSE(io::read_file(NM_TEST_BINARY_DIR, &out, &error));
    EXPECT_NE(error.find("directory"), std::string::npos) << error;
    EXPECT_FALSE(io::write_file(nm::test::sample_snapshot(), "/nonexistent/dir/x.nmsnap", &error));
    EXPECT_NE(error.find("/nonexistent/dir"), std::string::npos) << error;
    // /dev/zero never ends: only regular files are read.
    EXPECT_FALSE(io::read_file("/dev/zero", &out, &error));
    EXPECT_NE(error.find("character device"), std::string::npos) << error;
}

} // namespace

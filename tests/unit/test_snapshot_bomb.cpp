// test_snapshot_bomb.cpp - small snapshot files that declare gigabytes: decompression bombs and
// lying counts are refused with the decoding process's peak memory bounded (measured in a child
// process), while a real snapshot of millions of blocks still opens.
#include <nmleak/snapshot_io.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

namespace io = nm::snapshot_io;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true; // shadow memory and quarantine make RSS figures meaningless
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

void put32(std::vector<uint8_t> &v, uint32_t x) {
    for (int i = 0; i < 4; ++i) v.push_back(uint8_t(x >> (8 * i)));
}
void put64(std::vector<uint8_t> &v, uint64_t x) {
    for (int i = 0; i < 8; ++i) v.push_back(uint8_t(x >> (8 * i)));
}

// A zstd frame (format of RFC 8878) that decompresses to `prefix` followed by `total - prefix.size()`
// zero bytes: the prefix as raw blocks, the zeros as RLE blocks of 128 KiB, 4 bytes each. No
// content checksum. A 4 GiB payload takes 128 KiB.
std::vector<uint8_t> zstd_bomb(const std::vector<uint8_t> &prefix, uint64_t total) {
    std::vector<uint8_t> f;
    put32(f, 0xFD2FB528u);
    f.push_back(0xC0);        // frame header descriptor: 8-byte content size, no checksum, window descriptor
    f.push_back((17 - 10) << 3); // window 128 KiB
    put64(f, total);
    auto block_header = [&](uint32_t type, uint32_t size, bool last) {
        const uint32_t h = (size << 3) | (type << 1) | (last ? 1u : 0u);
        f.push_back(uint8_t(h));
        f.push_back(uint8_t(h >> 8));
        f.push_back(uint8_t(h >> 16));
    };
    uint64_t left = total;
    for (size_t at = 0; at < prefix.size();) {
        const size_t n = std::min<size_t>(prefix.size() - at, 128 << 10);
        left -= n;
        block_header(0, uint32_t(n), left == 0);
        f.insert(f.end(), prefix.begin() + long(at), prefix.begin() + long(at + n));
        at += n;
    }
    while (left > 0) {
        const uint32_t n = uint32_t(std::min<uint64_t>(left, 128 << 10));
        left -= n;
        block_header(1, n, left == 0);
        f.push_back(0);
    }
    return f;
}

// The hand-built payloads below use the version-1 process record (no heap fields), which every
// nmleak still reads; bomb_seeds.py writes the same version.
constexpr uint32_t kPrefixVersion = 1;

// A snapshot container around `stored` (zstd) claiming `payload_size` bytes, checksums right.
std::vector<uint8_t> container(const std::vector<uint8_t> &stored, uint64_t payload_size) {
    std::vector<uint8_t> c(io::kMagic, io::kMagic + 8);
    put32(c, kPrefixVersion);
    put32(c, 1); // zstd
    put64(c, payload_size);
    put64(c, stored.size());
    put32(c, io::crc32(stored));
    put32(c, io::crc32({c.data(), 36}));
    c.insert(c.end(), stored.begin(), stored.end());
    return c;
}

// The start of a payload: the process record, then no modules, then `frames` as the frame count.
std::vector<uint8_t> payload_prefix(uint32_t frames) {
    std::vector<uint8_t> p;
    put32(p, 4242); // pid
    for (int i = 0; i < 3; ++i) put32(p, 0); // command, executable, hostname: empty
    put64(p, 0);
    put64(p, 0);
    put32(p, 16);
    put32(p, 0);      // modules
    put32(p, frames); // frames
    return p;
}

long vm_hwm_kib() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

struct Decoded {
    bool ok = false;
    long growth_kib = -1; // peak resident memory of the decode, above the process's size before it
    std::string error;
};

// Decodes `bytes` in a child process (so the peak is the decode's own) and reports what happened.
Decoded decode_in_child(const std::vector<uint8_t> &bytes) {
    int fds[2];
    if (pipe(fds) != 0) return {};
    const pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        const long before = vm_hwm_kib();
        nm::model::Snapshot snap;
        std::string error;
        const bool ok = io::decode(bytes, &snap, &error);
        const long growth = vm_hwm_kib() - before;
        const std::string msg = std::string(ok ? "1" : "0") + " " + std::to_string(growth) + " " + error;
        if (write(fds[1], msg.data(), msg.size()) < 0) _exit(2);
        _exit(0);
    }
    close(fds[1]);
    std::string msg;
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, size_t(n));
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    Decoded d;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || msg.size() < 3) {
        d.error = "the child died (status " + std::to_string(st) + ")";
        return d;
    }
    d.ok = msg[0] == '1';
    const size_t sp = msg.find(' ', 2);
    d.growth_kib = std::stol(msg.substr(2, sp - 2));
    d.error = sp == std::string::npos ? "" : msg.substr(sp + 1);
    return d;
}

// 128 KiB of zstd that claims 4 GiB of zeros: refused from the header, nothing decompressed.
TEST(SnapshotBomb, FourGibibytesOfZerosInAFewHundredKilobytes) {
    const uint64_t claimed = uint64_t{4} << 30;
    const std::vector<uint8_t> file = container(zstd_bomb(payload_prefix(0), claimed), claimed);
    ASSERT_LT(file.size(), 200u << 10);
    const Decoded d = decode_in_child(file);
    std::printf("4 GiB claimed in %zu bytes: peak +%ld KiB: %s\n", file.size(), d.growth_kib, d.error.c_str());
    EXPECT_FALSE(d.ok);
    EXPECT_NE(d.error.find("decompression bomb"), std::string::npos) << d.error;
    if (!kSanitized) {
        EXPECT_LT(d.growth_kib, 32 * 1024) << "peak KiB above the start";
    }
}

// Within the plausible ratio: 16 MiB of zeros behind a valid start. The stream is decoded as it
// is decompressed, so the first bad field ends it after one piece.
TEST(SnapshotBomb, ZerosAfterAValidStartEndAtTheFirstBadField) {
    const uint64_t claimed = uint64_t{16} << 20;
    const Decoded d = decode_in_child(container(zstd_bomb(payload_prefix(0), claimed), claimed));
    std::printf("16 MiB of zeros: peak +%ld KiB: %s\n", d.growth_kib, d.error.c_str());
    EXPECT_FALSE(d.ok);
    EXPECT_NE(d.error.find("end marker missing"), std::string::npos) << d.error;
    if (!kSanitized) {
        EXPECT_LT(d.growth_kib, 8 * 1024);
    }
}

// Counts that lie. A count larger than what the declared payload can hold is refused before
// anything is reserved; one that fits is only believed element by element, as the data arrives.
TEST(SnapshotBomb, LyingCountsReserveNothing) {
    const uint64_t claimed = uint64_t{16} << 20;
    const Decoded huge = decode_in_child(container(zstd_bomb(payload_prefix(0xFFFFFFFFu), claimed), claimed));
    std::printf("4,294,967,295 frames claimed: peak +%ld KiB: %s\n", huge.growth_kib, huge.error.c_str());
    EXPECT_FALSE(huge.ok);
    EXPECT_NE(huge.error.find("cannot fit"), std::string::npos) << huge.error;
    if (!kSanitized) {
        EXPECT_LT(huge.growth_kib, 8 * 1024);
    }

    // 500,000 frames fit in 16 MiB; the data behind them is zeros: empty frames, then no stacks, no
    // experts and no end marker. Memory grows with the frames actually read, and is released.
    const Decoded fits = decode_in_child(container(zstd_bomb(payload_prefix(500000), claimed), claimed));
    std::printf("500,000 empty frames in 16 MiB: peak +%ld KiB: %s\n", fits.growth_kib, fits.error.c_str());
    EXPECT_FALSE(fits.ok);
    EXPECT_NE(fits.error.find("end marker missing"), std::string::npos) << fits.error;
    if (!kSanitized) {
        EXPECT_LT(fits.growth_kib, 160 * 1024);
    }

    // The same lie without compression: the count is checked against the bytes really there.
    std::vector<uint8_t> stored = payload_prefix(0xFFFFFFFFu);
    std::vector<uint8_t> raw(io::kMagic, io::kMagic + 8);
    put32(raw, kPrefixVersion);
    put32(raw, 0);
    put64(raw, stored.size());
    put64(raw, stored.size());
    put32(raw, io::crc32(stored));
    put32(raw, io::crc32({raw.data(), 36}));
    raw.insert(raw.end(), stored.begin(), stored.end());
    nm::model::Snapshot out;
    std::string error;
    EXPECT_FALSE(io::decode(raw, &out, &error));
    EXPECT_NE(error.find("cannot fit"), std::string::npos) << error;
}

// A real snapshot of 2,000,000 live blocks still opens, and decoding it never holds the
// decompressed payload (56 MB) beside the model: the peak is the block list's growth.
TEST(SnapshotBomb, TwoMillionBlocksStillOpen) {
    nm::model::Snapshot s;
    s.process.pid = 77;
    s.process.command = "analyzer";
    s.frames.push_back({0x401000, "parse", "parse.c", 10, "/bin/analyzer", 0x1000});
    s.stacks = {{{}}, {{0}}};
    nm::model::Expert e;
    e.id = 1;
    e.name = "big";
    std::mt19937_64 rng(7);
    e.blocks.reserve(2'000'000);
    for (uint64_t i = 0; i < 2'000'000; ++i)
        e.blocks.push_back({0x7f0000000000 + i * 48 + (rng() & 15) * 16, 16 + rng() % 4096, uint32_t(i & 1), i / 1000});
    e.live_blocks = e.blocks.size();
    s.experts.push_back(e);
    std::vector<uint8_t> bytes;
    std::string error;
    ASSERT_TRUE(io::encode(s, &bytes, &error)) << error;
    const uint64_t model_kib = e.blocks.size() * sizeof(nm::model::Block) / 1024;

    const Decoded d = decode_in_child(bytes);
    ASSERT_TRUE(d.ok) << d.error;
    std::printf("2M blocks: file %zu KiB, block list %lu KiB, decode peak +%ld KiB\n", bytes.size() / 1024,
                static_cast<unsigned long>(model_kib), d.growth_kib);
    if (!kSanitized) {
        EXPECT_LT(d.growth_kib, long(model_kib * 8 / 5) + 32 * 1024);
    }

    nm::model::Snapshot back;
    ASSERT_TRUE(io::decode(bytes, &back, &error)) << error;
    ASSERT_EQ(back.experts.size(), 1u);
    ASSERT_EQ(back.experts[0].blocks.size(), e.blocks.size());
    EXPECT_EQ(back.experts[0].blocks[1234567].address, e.blocks[1234567].address);
    EXPECT_EQ(back.experts[0].blocks[1999999].size, e.blocks[1999999].size);
}

} // namespace

// fuzz_snapshot_reader.cpp - libFuzzer target: the snapshot reader must refuse any bytes cleanly.
//
// Each input is tried three ways: as a whole container (magic, CRCs, zstd, payload), as a bare
// payload (skipping the CRCs, which otherwise stop most mutations early), and as a payload sealed
// into a valid container, so the decoder's bounds and index checks get the mutations. A decoded
// snapshot is re-encoded and must decode again to the same bytes.
#include <nmleak/snapshot_io.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace io = nm::snapshot_io;

namespace {

void check_round_trip(const nm::model::Snapshot &s) {
    std::vector<uint8_t> payload, again;
    io::encode_payload(s, &payload);
    nm::model::Snapshot back;
    std::string error;
    if (!io::decode_payload(payload, &back, &error)) std::abort(); // our own output must decode
    io::encode_payload(back, &again);
    if (again != payload) std::abort();
}

void seal_uncompressed(const uint8_t *data, size_t size, std::vector<uint8_t> *out) {
    out->assign(io::kHeaderSize, 0);
    out->insert(out->end(), data, data + size);
    auto put = [&](size_t at, uint64_t v, int n) {
        for (int i = 0; i < n; ++i) (*out)[at + i] = static_cast<uint8_t>(v >> (8 * i));
    };
    for (size_t i = 0; i < sizeof io::kMagic; ++i) (*out)[i] = io::kMagic[i];
    put(8, io::kFormatVersion, 4);
    put(12, 0, 4); // stored as is
    put(16, size, 8);
    put(24, size, 8);
    put(32, io::crc32({out->data() + io::kHeaderSize, size}), 4);
    put(36, io::crc32({out->data(), 36}), 4);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // A small limit keeps a legitimately huge (decompression-bomb) input inside libFuzzer's RSS
    // budget; the reader's own default is 4 GiB.
    const io::DecodeLimits limits{uint64_t{64} << 20};
    nm::model::Snapshot s;
    std::string error;
    if (io::decode({data, size}, &s, &error, limits)) check_round_trip(s);
    else if (error.empty()) std::abort(); // every refusal carries a reason

    nm::model::Snapshot p;
    if (io::decode_payload({data, size}, &p, &error)) check_round_trip(p);
    else if (error.empty()) std::abort();

    std::vector<uint8_t> sealed;
    seal_uncompressed(data, size, &sealed);
    nm::model::Snapshot q;
    if (!io::decode(sealed, &q, &error, limits) && error.empty()) std::abort();
    return 0;
}

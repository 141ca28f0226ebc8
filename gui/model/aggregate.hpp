// aggregate.hpp - per-key, per-stack and per-block groupings of one snapshot, built once per model update.
//
// Three kinds of retained memory are kept apart everywhere, because they mean different things:
//   Outstanding - live blocks of keys still open (they may yet be freed);
//   Leaked      - blocks a key still held when it was closed with outcome done (its cleanup record);
//   Reclaimed   - blocks a forced cleanup (any other outcome) freed for the expert.
// The views never walk the snapshot's blocks per frame: they read these arrays, which the reader
// thread builds (build_aggregate) before it publishes a model.
#pragma once

#include <nmleak/model.hpp>

#include <array>
#include <cstdint>
#include <vector>

namespace nm::gui {

enum class Retention : uint8_t { Outstanding = 0, Leaked = 1, Reclaimed = 2 };
inline constexpr size_t kRetentionKinds = 3;
const char *to_string(Retention r);

// Blocks and bytes of each retention kind.
struct Figures {
    std::array<uint64_t, kRetentionKinds> blocks{};
    std::array<uint64_t, kRetentionKinds> bytes{};

    void add(Retention r, uint64_t n_blocks, uint64_t n_bytes) {
        blocks[size_t(r)] += n_blocks;
        bytes[size_t(r)] += n_bytes;
    }
    void add(const Figures &o) {
        for (size_t i = 0; i < kRetentionKinds; ++i) {
            blocks[i] += o.blocks[i];
            bytes[i] += o.bytes[i];
        }
    }
    uint64_t bytes_of(Retention r) const { return bytes[size_t(r)]; }
    uint64_t blocks_of(Retention r) const { return blocks[size_t(r)]; }
    uint64_t total_bytes() const { return bytes[0] + bytes[1] + bytes[2]; }
    uint64_t total_blocks() const { return blocks[0] + blocks[1] + blocks[2]; }
    // Outstanding + leaked: what the expert keeps (the measure report_diff compares).
    uint64_t retained_bytes() const { return bytes[0] + bytes[1]; }
    uint64_t retained_blocks() const { return blocks[0] + blocks[1]; }
};

// A live block, by position: snapshot.experts[expert].blocks[index].
struct BlockRef {
    uint32_t expert = 0;
    uint32_t index = 0;
};

// Everything one key allocated from one stack.
struct KeyGroup {
    uint32_t expert = 0; // index into Snapshot::experts
    uint32_t stack = 0;  // index into Snapshot::stacks
    Figures fig;
    uint32_t block_begin = 0, block_end = 0; // its outstanding blocks: Aggregate::blocks[begin, end)
    uint64_t min_size = 0, max_size = 0;     // of those blocks (0 when it has none)
};

struct CleanupRef {
    uint32_t expert = 0;
    uint32_t cleanup = 0; // index into Expert::cleanups
    uint64_t time_ms = 0;
};

struct MisuseRef {
    uint32_t expert = 0;
    uint32_t misuse = 0; // index into Expert::misuse
    uint64_t time_ms = 0;
};

struct EventRef {
    uint32_t expert = 0;
    uint32_t event = 0; // index into Expert::events
    uint64_t time_ms = 0;
};

struct Aggregate {
    // Groups ordered by expert, then by total bytes (biggest first);
    // the groups of expert e are groups[expert_groups[e], expert_groups[e + 1]).
    std::vector<KeyGroup> groups;
    std::vector<uint32_t> expert_groups;
    // Per expert, its figures summed over its groups.
    std::vector<Figures> expert_figures;
    // Live blocks ordered by expert, stack, then size (biggest first).
    std::vector<BlockRef> blocks;
    std::vector<CleanupRef> cleanups; // every cleanup of every key, oldest first
    std::vector<MisuseRef> misuse;    // every kept misuse event, oldest first
    std::vector<EventRef> events;     // every kept event an expert submitted, oldest first
    // frame_loc[f]: the first frame of the same function and module as frame f. Trees merge
    // frames through it; unsymbolized frames stay distinct.
    std::vector<uint32_t> frame_loc;
    Figures total;
    uint64_t stacks_used = 0; // distinct stacks with any retained or reclaimed memory

    uint32_t group_begin(uint32_t expert) const { return expert_groups[expert]; }
    uint32_t group_end(uint32_t expert) const { return expert_groups[expert + 1]; }
};

// Builds every grouping of `snap`. Cost is O(blocks log blocks); a 1M-block snapshot takes a few
// hundred ms, which is why it runs on the reader thread.
Aggregate build_aggregate(const model::Snapshot &snap);

// Index of the expert with this id, or -1.
int find_expert(const model::Snapshot &snap, uint64_t id);

} // namespace nm::gui

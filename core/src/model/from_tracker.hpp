// from_tracker.hpp - turns the tracker's records (track/query.hpp) into the snapshot model.
#pragma once

#include <nmleak/model.hpp>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "track/query.hpp"

namespace nm {

// capture_snapshot(), also telling the history sequence number it read up to.
model::Snapshot capture_snapshot_seq(bool include_blocks, uint64_t *history_seq);

// The experts of a reading, sorted by id, each with its misuse events. Stack ids stay depot ids.
std::vector<model::Expert> experts_from(const track::Reading &r);
model::Expert expert_from(const track::KeyRecord &k);
model::Misuse misuse_from(const track::MisuseRecord &m);
// Fills each expert's events and events_dropped from the tracker's event store (by id).
void add_events(std::vector<model::Expert> &experts);

// Maps depot stack ids to indices into a snapshot's stacks, adding each stack's frames (by
// address, deduplicated, not yet symbolized) as it goes. Index 0 is the empty stack.
class DepotStacks {
public:
    explicit DepotStacks(model::Snapshot &snap);
    uint32_t map(uint32_t depot_id);
    // Every stack id an expert names, from depot ids to snapshot indices.
    void map_expert(model::Expert &e);

private:
    model::Snapshot &snap_;
    std::unordered_map<uint32_t, uint32_t> ids_;
    std::unordered_map<uint64_t, uint32_t> frames_;
    std::vector<uintptr_t> scratch_;
};

} // namespace nm

// live.hpp - what the in-process agent streams: full snapshots and per-client updates of this
// process's tracker, and the commands it runs on the tracker's behalf.
//
// Updates (protocol.hpp, MessageType::Update) are partial model::Snapshots. For each client the
// agent keeps a Baseline: what that client was last told about every key. An update holds the keys
// whose figures changed since (with their current figures: absolute values, not differences, so
// an update that is coalesced with the next one loses nothing), only the cleanups and misuse events
// that are new, and only the stacks and frames those events name, symbolized. Live blocks are not
// streamed: a client asks for a full snapshot to see them. Why this shape: per-key figures are
// what the GUI's table and timeline plot at every tick and cost a few hundred bytes; block lists
// can hold millions of entries and are only looked at on demand.
#pragma once

#include <nmleak/model.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace nm::live {

// What one client was last told about one key.
struct KeyMark {
    model::ExpertState state = model::ExpertState::Running;
    model::Outcome outcome = model::Outcome::Done;
    uint64_t closed_ms = 0;
    model::Status status;
    uint64_t live_blocks = 0, live_bytes = 0, peak_bytes = 0;
    uint64_t allocs = 0, reallocs = 0, frees = 0, misuse_count = 0;
    std::string outcome_detail;
    int32_t crash_signal = 0;
    size_t cleanups_sent = 0; // how many of the key's cleanups / misuse events the client has
    size_t misuse_sent = 0;
    size_t events_sent = 0;   // and of its events
    uint64_t events_dropped = 0;
    uint64_t heap_blocks = 0, heap_bytes = 0, heap_frees = 0;
};

// Per client: everything it was told. Starts empty (the first update then carries every key).
class Baseline {
public:
    size_t keys() const { return keys_.size(); }

private:
    friend class Source;
    std::unordered_map<uint64_t, KeyMark> keys_; // open keys
    uint64_t history_seq_ = 0;                   // closed keys and misuse told up to here
    uint64_t module_generation_ = 0;
    uint32_t stack_depth_ = ~0u;
    bool have_modules_ = false;
};

// Reads this process's tracker for the agent. Use from one thread (the agent's).
class Source {
public:
    Source();
    ~Source();
    Source(const Source &) = delete;
    Source &operator=(const Source &) = delete;

    // A full snapshot (nm::capture_snapshot); when `baseline` is given it is reset to what this
    // snapshot shows, so the next delta() carries only what changed after it.
    model::Snapshot full(bool include_blocks, Baseline *baseline);

    // Reads every key's figures now: no blocks, stacks left as tracker ids, nothing symbolized.
    // Costs about a microsecond per key; delta() compares against the last reading.
    void refresh();

    // The update that brings a client from *baseline to the last refresh(), and moves *baseline
    // there. False, with *out untouched, when nothing changed. Symbolizes only the stacks the
    // update names (results are cached across calls).
    bool delta(Baseline *baseline, model::Snapshot *out);

    // The tracker's capture depth now, and when it started (unix ms): for the Hello frame.
    uint32_t stack_depth() const;
    uint64_t start_unix_ms() const;

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
};

// NmRequestExpertTerminate on the open key whose model id (model::Expert::id) is `id`: clients see
// ids, not handles. NMERR_SUCCESS; NMERR_INVALID_EXPERT_HANDLE when no open key has this id.
uint32_t request_terminate_by_id(uint64_t id);

} // namespace nm::live

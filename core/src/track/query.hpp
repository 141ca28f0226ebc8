// query.hpp - the tracker as the layers above it see it: each key's figures and records in the
// tracker's own types, stacks by depot id, and the process's clock and capture depth.
//
// This is the only tracker header the model and live layers can include (the build gives them no
// other); it knows nothing of the snapshot model, which converts these records itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nm::track {

enum class KeyPhase : uint32_t { Open = 0, Terminating = 1, Closed = 2 };

// Numbered as model::MisuseKind.
enum class MisuseKind : uint32_t {
    DoubleFree = 0,
    UnknownPointer = 1,
    InteriorPointer = 2,
    ForeignKey = 3,
    CorruptHeader = 4,
    MismatchedFree = 5, // released by the wrong family (free of new'd or API memory, delete of new[])
};

struct StatusRecord {
    uint32_t status = 0;
    uint32_t substatus = 0;
    std::string text;
    int32_t percent = -1;
};

struct BlockRecord {
    uint64_t address = 0;
    uint64_t size = 0;
    uint32_t stack = 0; // depot id
    uint64_t time_ms = 0;
    uint32_t origin = 0; // numbered as model::BlockOrigin: 0 expert API, 1 malloc/new (whole heap)
};

struct StackGroupRecord {
    uint32_t stack = 0; // depot id
    uint64_t blocks = 0;
    uint64_t bytes = 0;
};

// What closing a key reclaimed (NM_OUTCOME_DONE: leaks; otherwise a forced cleanup).
struct CloseRecord {
    uint64_t time_ms = 0;
    uint32_t outcome = 0; // NM_OUTCOME_*
    uint64_t blocks = 0;
    uint64_t bytes = 0;
    std::vector<StackGroupRecord> stacks; // biggest bytes first
    // Heap blocks (malloc/new) of the key's run still live at the close: listed, not freed.
    uint64_t left_blocks = 0;
    uint64_t left_bytes = 0;
    std::vector<StackGroupRecord> left_stacks; // biggest bytes first
    // With ReclaimLeft::Unreachable: the left-behind blocks nothing reached, freed by the close
    // (not in left_*), and why none were when the pass could not be trusted.
    uint64_t reclaimed_blocks = 0;
    uint64_t reclaimed_bytes = 0;
    std::vector<StackGroupRecord> reclaimed_stacks; // biggest bytes first
    std::string reclaim_note;
};

struct MisuseRecord {
    uint64_t seq = 0;   // history sequence number (see History)
    uint64_t key_id = 0;
    uint64_t time_ms = 0;
    MisuseKind kind = MisuseKind::UnknownPointer;
    const char *function = ""; // a string literal: "ExpertFreeMemory", "ExpertReallocMemory"
    uint64_t address = 0;
    uint32_t stack = 0; // depot id
    std::string owner;  // ForeignKey: the owning key's name
};

struct KeyRecord {
    uint64_t id = 0;
    uint64_t seq = 0; // closed keys: history sequence number of the close; open keys: 0
    std::string name;
    KeyPhase phase = KeyPhase::Open;
    uint64_t opened_ms = 0;
    StatusRecord status;
    uint64_t live_blocks = 0, live_bytes = 0, peak_bytes = 0;
    uint64_t allocs = 0, reallocs = 0, frees = 0, misuse_count = 0;
    std::string outcome_detail;
    int32_t crash_signal = 0;
    uint64_t crash_address = 0;
    uint32_t crash_stack = 0; // depot id
    bool closed = false;      // `close` is set
    CloseRecord close;
    std::vector<BlockRecord> blocks; // open keys, when asked for
    uint32_t kind = 0; // numbered as model::KeyKind: 0 expert key, 1 module key (whole heap)
    // Heap blocks (malloc/new) of an expert key's run, outside the API (not in live_*): live now
    // (for a closed key: left behind by its close and not freed since), made, and freed.
    uint64_t heap_blocks = 0, heap_bytes = 0, heap_allocs = 0, heap_frees = 0;
};

// Clean closed keys (Done, nothing left, no misuse) that the history folded into totals to bound
// its memory (History::kMaxClosedKept).
struct FoldedKeys {
    uint64_t keys = 0;
    uint64_t allocs = 0, reallocs = 0, frees = 0;
    uint64_t peak_bytes = 0; // the highest peak among them
    uint64_t last_seq = 0;   // the newest sequence number folded
};

// A reading of the tracker. Open keys are always read whole; of the history (closed keys and
// misuse events, each with a sequence number) only records with seq > `since` are copied.
struct Reading {
    std::vector<KeyRecord> open;
    std::vector<KeyRecord> closed;     // seq > since, oldest first
    std::vector<MisuseRecord> misuse;  // seq > since, oldest first (of open and closed keys)
    // Closed expert keys whose left-behind heap blocks are still live, read whole every time: id,
    // heap_* figures (heap_frees: the frees since the close) and the blocks when asked for.
    std::vector<KeyRecord> retired;
    uint64_t history_seq = 0;          // the newest sequence number at the time of the reading
    FoldedKeys folded;
};

struct Query {
    // Every open key (with its live blocks when include_blocks) and the history newer than
    // `since` (0: all of it; kNoHistory: none, history_seq only).
    static constexpr uint64_t kNoHistory = ~uint64_t{0};
    static void read(Reading &out, bool include_blocks, uint64_t since = 0);
    // Only the history newer than `since` (out.open stays as it is).
    static void history(Reading &out, uint64_t since);
    // Copies depot stack `id` (innermost frame first); false for an unknown id.
    static bool stack(uint32_t id, std::vector<uintptr_t> &frames);
    static uint64_t now_ms() noexcept;
    static uint64_t start_unix_ms() noexcept;
    static uint32_t stack_depth() noexcept;
    // The handle of the open (or terminating) key whose id is `id`, or nullptr.
    static void *handle_for_id(uint64_t id) noexcept;
    // Is `address` still the start of a live block of `size` bytes (api: an ExpertAllocMemory
    // block, whose header is checked too)? For the reachability pass, with other threads held.
    static bool block_live(uint64_t address, uint64_t size, bool api) noexcept;
};

} // namespace nm::track

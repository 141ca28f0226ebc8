// model.hpp - the snapshot model: one process's whole record, the form every consumer reads.
//
// The tracker produces it (nm::capture_snapshot), the report writers format it, the snapshot codec
// saves and loads it, the agent streams it and the GUI draws it. Frames are symbolized here, so a
// Snapshot is self-contained and can be read on another machine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nm::model {

inline constexpr uint32_t kSnapshotVersion = 2;

// A code location. Frames are deduplicated by address inside one Snapshot.
struct Frame {
    uint64_t address = 0;       // absolute return address in the recorded process
    std::string function;       // demangled; empty when unknown
    std::string file;           // source file; empty without debug info
    uint32_t line = 0;          // 0 when unknown
    std::string module;         // path of the shared object / executable
    uint64_t module_offset = 0; // address - module load base
};

// A call stack: indices into Snapshot::frames, innermost (the allocating call site) first.
// Stack id 0 is always the empty stack ("not captured": sizes-only mode).
struct Stack {
    std::vector<uint32_t> frames;
};

struct Module {
    std::string path;
    uint64_t base = 0;
    uint64_t size = 0;
    std::string build_id; // hex, empty when the module has none
};

// Which entry point made a block.
enum class BlockOrigin : uint32_t {
    Api = 0,  // ExpertAllocMemory / ExpertReallocMemory
    Heap = 1, // malloc, new and the rest of the C and C++ heap
};

// Reachability of a live block, in LeakSanitizer's and Valgrind's terms.
enum class Reach : uint32_t {
    Unknown = 0,        // no reachability pass ran for this snapshot
    Reachable = 1,      // a root, or a reachable block, points into it
    IndirectlyLost = 2, // only lost blocks point into it
    DefinitelyLost = 3, // nothing points into it
};

struct Block {
    uint64_t address = 0;
    uint64_t size = 0;     // the size the caller asked for
    uint32_t stack = 0;    // index into Snapshot::stacks
    uint64_t time_ms = 0;  // allocation time, ms since the process's tracker started
    BlockOrigin origin = BlockOrigin::Api;
    Reach reach = Reach::Unknown;
};

// Blocks and bytes attributed to one stack (cleanup records, leak groups).
struct StackGroup {
    uint32_t stack = 0;
    uint64_t blocks = 0;
    uint64_t bytes = 0;
};

enum class Outcome : uint32_t { Done = 0, Failed = 1, Terminated = 2, Crashed = 3, Timeout = 4 };

// What NmCloseExpertKey reclaimed. With Outcome::Done the blocks are leaks, otherwise a forced cleanup.
struct Cleanup {
    uint64_t time_ms = 0;
    Outcome outcome = Outcome::Done;
    uint64_t blocks = 0;
    uint64_t bytes = 0;
    std::vector<StackGroup> stacks; // biggest bytes first
    // Heap blocks (malloc/new) of the key still live at the close: listed, not freed, since the
    // host may still hold them.
    uint64_t left_blocks = 0;
    uint64_t left_bytes = 0;
    std::vector<StackGroup> left_stacks; // biggest bytes first
    // With the opt-in reclaim (NMLEAK_RECLAIM_LEFT_BEHIND=unreachable): the left-behind blocks
    // nothing pointed to, freed by the close (not counted in left_*). Like blocks/bytes, leaks
    // with Outcome::Done, a forced cleanup otherwise. reclaim_note: why none were, if so.
    uint64_t reclaimed_left_blocks = 0;
    uint64_t reclaimed_left_bytes = 0;
    std::vector<StackGroup> reclaimed_left_stacks; // biggest bytes first
    std::string reclaim_note;
};

enum class MisuseKind : uint32_t {
    DoubleFree = 0,      // the pointer was a block that is already freed
    UnknownPointer = 1,  // never a block of any key
    InteriorPointer = 2, // points inside a live block, not at its start
    ForeignKey = 3,      // a live block of another key
    CorruptHeader = 4,   // the block's tracking header was overwritten (buffer underflow)
    MismatchedFree = 5,  // released by the wrong family: free of new'd or API memory, delete of new[]
};

struct Misuse {
    uint64_t time_ms = 0;
    MisuseKind kind = MisuseKind::UnknownPointer;
    std::string function; // "ExpertFreeMemory", "ExpertReallocMemory", "free", "operator delete"...
    uint64_t address = 0; // the offending pointer
    uint32_t stack = 0;   // where the bad call was made
    std::string owner;    // for ForeignKey: the name of the key that owns the block
};

enum class ExpertState : uint32_t {
    Running = 0,            // key open
    TerminateRequested = 1, // key open, terminate asked
    Closed = 2,             // key closed; see outcome
};

struct Status {
    uint32_t status = 0; // EXPERTSTATUSENUMERATION
    uint32_t substatus = 0;
    std::string text;
    int32_t percent = -1; // -1: never reported
};

// One typed column of an event (NMCOLUMNINFO), its value rendered as text.
struct EventColumn {
    std::string name;
    uint32_t type = 0; // NMCOLUMNTYPE
    std::string value;
};

// A finding an expert reported with ExpertSubmitEvent (NMEVENTDATA).
struct Event {
    uint64_t time_ms = 0; // when it was submitted, ms since the process's tracker started
    uint32_t ident = 0;   // EventIdent
    uint32_t flags = 0;
    uint32_t severity = 0;
    uint32_t justification = 0;
    std::string source;
    std::string name;
    std::string description;
    std::string machine;
    std::string url;
    uint64_t event_unix_ms = 0; // the event's SysTime as ms since 1970 (0: not given)
    std::vector<EventColumn> columns;
    // NMEVENTDATA.Justification (JTYPE, a string: the Event Viewer's second window); empty: none.
    // `justification` above is 1 when there is one, 0 otherwise.
    std::string justification_text;
};

// Expert keys are opened by a host (NmOpenExpertKey); module keys hold the heap blocks charged to
// one loaded module and are never closed.
enum class KeyKind : uint32_t { Expert = 0, Module = 1 };

struct Expert {
    uint64_t id = 0; // unique per key for the process's lifetime (never reused)
    std::string name;
    KeyKind kind = KeyKind::Expert;
    ExpertState state = ExpertState::Running;
    Outcome outcome = Outcome::Done; // meaningful when state == Closed
    uint64_t opened_ms = 0;
    uint64_t closed_ms = 0;
    Status status;
    uint64_t live_blocks = 0;
    uint64_t live_bytes = 0;
    uint64_t peak_bytes = 0;
    uint64_t allocs = 0;
    uint64_t reallocs = 0;
    uint64_t frees = 0;
    uint64_t misuse_count = 0;          // all misuse events, even those not kept in `misuse`
    // Set by the host runner before it closes the key: why the run ended ("Run returned FALSE",
    // "std::runtime_error: ...", "SIGSEGV at 0x10", "deadline of 5 s passed"), and for a crash the
    // signal, the faulting address and the faulting stack.
    std::string outcome_detail;
    int32_t crash_signal = 0;
    uint64_t crash_address = 0;
    uint32_t crash_stack = 0;
    std::vector<Block> blocks;          // live blocks (empty once closed)
    std::vector<Cleanup> cleanups;      // at most one today: the close
    std::vector<Misuse> misuse;         // the first events (capped), oldest first
    std::vector<Event> events;          // ExpertSubmitEvent findings (capped), oldest first
    uint64_t events_dropped = 0;        // submitted but not kept (over the cap)
    // Heap blocks (malloc/new, under nmleak run) of the key: live now, made, and freed. For an
    // expert key these are outside the API and not in live_blocks/live_bytes (a closed key's are
    // the blocks its close left behind that are still live; heap_frees counts frees made after
    // the close too); for a module key they are its live_blocks/live_bytes, allocs and frees.
    uint64_t heap_blocks = 0;
    uint64_t heap_bytes = 0;
    uint64_t heap_allocs = 0;
    uint64_t heap_frees = 0;
};

struct Process {
    int32_t pid = 0;
    std::string command;    // argv joined with spaces
    std::string executable; // /proc/PID/exe
    std::string hostname;
    uint64_t start_unix_ms = 0;    // wall clock when the tracker started
    uint64_t snapshot_ms = 0;      // ms since the tracker started, when this snapshot was taken
    uint32_t stack_depth = 0;      // capture depth in force (0: sizes only)
    bool heap_tracked = false;     // malloc/new are tracked (nmleak run / attach), not only the API
    uint64_t foreign_frees = 0;    // frees and reallocs of pointers nmleak did not make
    bool reach_classified = false; // Block::reach was computed for this snapshot
    std::string reach_note;        // what the reachability pass could not do (threads it could not stop)
};

struct Snapshot {
    uint32_t version = kSnapshotVersion;
    Process process;
    std::vector<Module> modules;
    std::vector<Frame> frames;
    std::vector<Stack> stacks; // stacks[0] is the empty stack
    std::vector<Expert> experts;
};

const char *to_string(Outcome o);
const char *to_string(MisuseKind k);
const char *to_string(ExpertState s);
const char *to_string(KeyKind k);      // "expert", "module"
const char *to_string(Reach r);        // "unknown", "reachable", "indirectly_lost", "definitely_lost"
const char *to_string(BlockOrigin o);  // "api", "heap"
// "running", "terminate_requested", or the outcome's name for a closed key.
std::string state_label(const Expert &e);

} // namespace nm::model

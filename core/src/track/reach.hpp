// reach.hpp - reachability of the tracked blocks: which live blocks nothing points to any more.
//
// The pass, as LeakSanitizer and Valgrind do it, over the blocks the tracker knows exactly:
//   1. Roots: the writable segments of every loaded module (not nmleak's own), every thread's stack
//      from its stack pointer up, every thread's registers, and its static TLS and thread control
//      block (which leads to its dynamic TLS through the DTV).
//   2. Any word of a root that points anywhere inside a live block (not only its start) keeps the
//      block; the words of a kept block are scanned in turn (a worklist, no recursion).
//   3. What is left is lost. Lost blocks are grouped the way Valgrind groups them: walking the lost
//      blocks in address order, each one not yet reached from another lost block heads a group
//      (definitely lost) and everything reachable from it is indirectly lost. So an unreachable
//      cycle of two blocks is one definitely and one indirectly lost block.
//
// While the roots and blocks are read, every other thread of the process is stopped: a signal makes
// each save its registers and wait on a futex until the pass ends. A thread that blocks the signal
// or does not answer in time is not stopped and not harmed: its stack is still scanned (from the
// stack pointer the kernel reports when it sits in a system call), memory is then read only through
// process_vm_readv (which cannot fault), and the pass says so in its limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nm::track::reach {

// The values of model::Reach.
enum Class : uint8_t { kUnknown = 0, kReachable = 1, kIndirectlyLost = 2, kDefinitelyLost = 3 };

struct BlockRef {
    uintptr_t address = 0;
    uint64_t size = 0;
    bool api = false; // an ExpertAllocMemory block: its header is checked again once threads stop
};

struct Options {
    bool globals = true;
    bool stacks = true;
    bool registers = true;
    bool tls = true;
    bool stop_threads = true;
    unsigned stop_timeout_ms = 200; // how long one thread may take to answer the stop signal
};

struct Stats {
    uint64_t blocks = 0;
    uint64_t root_bytes = 0;   // bytes of roots scanned
    uint64_t heap_bytes = 0;   // bytes of blocks scanned
    uint32_t threads = 0;      // threads of the process besides the caller
    uint32_t threads_stopped = 0;
    uint32_t threads_not_stopped = 0;
    uint64_t stop_us = 0;      // how long other threads were held
    uint64_t pass_us = 0;      // the whole pass, index building included
    bool safe_reads = false;   // blocks were read with process_vm_readv (a thread kept running)
    std::string limits;        // what the pass could not do, in words; empty when nothing
};

// Classifies blocks[i] into out[i] (a Class). `caller_frame` is the frame address of the public
// entry point on the calling thread: the caller's stack is scanned from there up, so nmleak's own
// frames (which hold every block's address) are not roots. Allocates before threads are stopped,
// never while they are. still_live (may be null) is asked about each block once threads are
// stopped: a block freed since the caller listed it is neither read nor classified (kUnknown).
void classify(const std::vector<BlockRef> &blocks, std::vector<uint8_t> &out, const Options &options,
              const void *caller_frame, Stats *stats, bool (*still_live)(const BlockRef &, void *) = nullptr,
              void *ctx = nullptr);

// classify() for a caller on an analyzer thread: scans this thread's stack from the innermost
// Entry (see enter()) up, or without one from this call's own frame up, with the callee-saved
// registers the caller had. Without an Entry, call it from a frame that holds no block address
// (build `blocks` in a separate function).
// (On x86-64 and AArch64 a small assembly entry pushes the caller's callee-saved registers and the
// scan starts at them, so this call's own frame, whose padding may hold what deeper calls left, is
// never read.)
using StillLive = bool (*)(const BlockRef &, void *);
extern "C" void nm_reach_classify_here(const std::vector<BlockRef> *blocks, std::vector<uint8_t> *out,
                                       const Options *options, Stats *stats, StillLive still_live, void *ctx);
__attribute__((always_inline)) inline void classify_here(const std::vector<BlockRef> &blocks,
                                                         std::vector<uint8_t> &out, const Options &options,
                                                         Stats *stats, StillLive still_live = nullptr,
                                                         void *ctx = nullptr) {
    nm_reach_classify_here(&blocks, &out, &options, stats, still_live, ctx);
}

// A public entry point that may end in a pass on its own thread (NmWriteReport, the exit report)
// calls enter() first with an Entry in its own frame, and leave() before it returns. A pass started
// below it on this thread scans the stack from the Entry up, with the callee-saved registers as
// enter() found them, instead of from classify_here's frame: nmleak's own frames in between walked
// every block, and their dead slots (a spill, alignment padding) would otherwise be taken for roots.
struct Entry {
    uintptr_t regs[16]; // filled by enter()
    const Entry *prev;
};
void enter(Entry *e) noexcept;
void leave(Entry *e) noexcept;

// The calling thread is nmleak's own (the agent, the watchdog): its stack and registers are never
// roots, and the stop signal is unblocked for it so it can be held like any other thread.
void mark_internal_thread() noexcept;
void unmark_internal_thread() noexcept;

// The interval index and the flood, without roots or threads: for tests and the benchmark.
// roots: ranges [first, second) of this process's memory, read safely.
void classify_from(const std::vector<BlockRef> &blocks, std::vector<uint8_t> &out,
                   const std::vector<std::pair<uintptr_t, uintptr_t>> &roots, Stats *stats);

} // namespace nm::track::reach

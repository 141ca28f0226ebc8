// collect.cpp - reads the tracker's keys and history (Query::read) while the process keeps running.
#include <algorithm>

#include "track/observe.hpp"
#include "track/tracker.hpp"

namespace nm::track {

void Tracker::read_key(Key *k, KeyRecord &e, bool include_blocks) {
    // Called with k->mu held: lanes cannot be added and the key cannot finish closing meanwhile.
    uint64_t w = k->word.load(std::memory_order_acquire);
    const uint32_t gen = word_gen(w);
    e.id = k->id.load(std::memory_order_relaxed);
    e.name = k->name;
    e.phase = word_state(w) == KeyState::Terminating ? KeyPhase::Terminating : KeyPhase::Open;
    e.opened_ms = k->opened_ms;
    e.status = k->status;
    e.outcome_detail = k->outcome_detail;
    e.crash_signal = k->crash_signal;
    e.crash_address = k->crash_address;
    e.crash_stack = k->crash_stack;
    e.kind = k->module.load(std::memory_order_acquire) ? 1 : 0;
    const Key::Figures f = k->figures();
    e.live_bytes = uint64_t(f.live_bytes);
    e.peak_bytes = uint64_t(f.peak_bytes);
    e.allocs = f.allocs;
    e.reallocs = f.reallocs;
    e.frees = f.frees;
    e.live_blocks = f.live_blocks();
    e.misuse_count = k->misuse_count.load(std::memory_order_relaxed);
    int64_t heap_bytes = 0;
    for (Lane *l = k->lanes.load(std::memory_order_acquire); l; l = l->next_in_key) {
        e.heap_allocs += l->heap_in.load(std::memory_order_relaxed);
        e.heap_frees += l->heap_out.load(std::memory_order_relaxed);
        heap_bytes += l->heap_bytes.load(std::memory_order_relaxed);
    }
    e.heap_blocks = e.heap_allocs > e.heap_frees ? e.heap_allocs - e.heap_frees : 0;
    e.heap_bytes = heap_bytes > 0 ? uint64_t(heap_bytes) : 0;
    if (!include_blocks) return;

    std::vector<uint64_t> chunks;
    for (Lane *l = k->lanes.load(std::memory_order_acquire); l; l = l->next_in_key) {
        std::lock_guard<std::mutex> lock(l->chunk_mu);
        l->chunks.append_to(chunks);
    }
    std::sort(chunks.begin(), chunks.end());
    chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());
    e.blocks.reserve(e.live_blocks);
    ThreadState *ts = thread_state();
    ts->in_api.store(kClaimsAnyKey, std::memory_order_relaxed); // see wait_for_claims
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (uint64_t c : chunks) {
        map_.for_each_live(c << 16, (c + 1) << 16, [&](uintptr_t user) {
            uint8_t seen;
            std::atomic<uint8_t> *g = claim(user, seen);
            if (!g) return; // freed meanwhile
            BlockHeader h = *reinterpret_cast<const BlockHeader *>(user - sizeof(BlockHeader));
            unclaim(g);
            if (check_header(h.word, k->slot, gen) != HeaderCheck::Ok) return;
            e.blocks.push_back({user, header_size(h.word), header_stack_id(h.stack), h.time_ms,
                                header_fn(h.stack) ? 1u : 0u});
        });
    }
    ts->in_api.store(0, std::memory_order_release);
}

// A closed key whose heap blocks outlived its close (called with k->mu held): the frees since the
// close and, when asked, the blocks still live.
void Tracker::read_retired(Key *k, KeyRecord &e, bool include_blocks) {
    const uint32_t gen = word_gen(k->word.load(std::memory_order_acquire));
    e.id = k->id.load(std::memory_order_relaxed);
    e.name = k->name;
    e.phase = KeyPhase::Closed;
    e.heap_blocks = k->left_live_blocks;
    e.heap_bytes = k->left_live_bytes;
    e.heap_frees = k->left_frees;
    if (!include_blocks) return;
    e.blocks.reserve(k->left_live_blocks);
    ThreadState *ts = thread_state();
    ts->in_api.store(kClaimsAnyKey, std::memory_order_relaxed); // see wait_for_claims
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (uint64_t user : k->left) {
        uint8_t seen;
        std::atomic<uint8_t> *g = claim(user, seen);
        if (!g) continue; // freed since the close
        BlockHeader h = *reinterpret_cast<const BlockHeader *>(user - sizeof(BlockHeader));
        unclaim(g);
        if (header_fn(h.stack) == 0 || check_header(h.word, k->slot, gen) != HeaderCheck::Ok) continue;
        e.blocks.push_back({user, header_size(h.word), header_stack_id(h.stack), h.time_ms, 1u});
    }
    ts->in_api.store(0, std::memory_order_release);
}

void Tracker::read(Reading &out, bool include_blocks, uint64_t since) {
    const uint32_t used = keys_.used();
    for (uint32_t s = 1; s < used; ++s) {
        Key *k = keys_.at(s);
        if (!k) continue;
        std::lock_guard<std::mutex> lock(k->mu);
        KeyState st = word_state(k->word.load(std::memory_order_acquire));
        if (st == KeyState::Retired) {
            out.retired.emplace_back();
            read_retired(k, out.retired.back(), include_blocks);
            continue;
        }
        if (st != KeyState::Open && st != KeyState::Terminating) continue;
        out.open.emplace_back();
        read_key(k, out.open.back(), include_blocks);
        if (k->module.load(std::memory_order_acquire)) { // blocks of an observed heap (nmleak attach)
            if (include_blocks) observe_reserve(s, out.open.back());
            observe_fill(s, out.open.back(), include_blocks);
        }
    }
    std::sort(out.open.begin(), out.open.end(), [](const KeyRecord &a, const KeyRecord &b) { return a.id < b.id; });
    history_.read(out, since);
}

// ---- Query: the tracker as the layers above read it -------------------------------------------

void Query::read(Reading &out, bool include_blocks, uint64_t since) {
    Tracker::get().read(out, include_blocks, since);
}
void Query::history(Reading &out, uint64_t since) { Tracker::get().read_history(out, since); }
bool Query::stack(uint32_t id, std::vector<uintptr_t> &frames) { return Tracker::get().depot().get(id, frames); }
uint64_t Query::now_ms() noexcept { return Tracker::get().now_ms(); }
uint64_t Query::start_unix_ms() noexcept { return Tracker::get().start_unix_ms(); }
uint32_t Query::stack_depth() noexcept { return Tracker::get().stack_depth(); }
void *Query::handle_for_id(uint64_t id) noexcept { return Tracker::get().handle_for_id(id); }
bool Query::block_live(uint64_t address, uint64_t size, bool api) noexcept {
    return Tracker::get().block_live(uintptr_t(address), size, api);
}

// Not instrumented for ThreadSanitizer: the reach pass calls this with other threads stopped,
// except in a TSan build (signals are deferred there, see reach.cpp), where a running thread may
// reuse the address meanwhile; the header word read is then a race by design, and a word of the
// new block just fails the size compare (not live), as scan_block's reads of running stacks.
__attribute__((no_sanitize("thread"))) bool Tracker::block_live(uintptr_t user, uint64_t size, bool api) const noexcept {
    if (user & 15) return !api;
    const std::atomic<uint8_t> *g = map_.find(user);
    if (!g) return !api;
    const uint8_t v = g->load(std::memory_order_acquire);
    if (v != uint8_t(Granule::Live) && v != uint8_t(Granule::Claimed)) return false;
    if (!api) return true;
    return header_size(reinterpret_cast<const BlockHeader *>(user - sizeof(BlockHeader))->word) == size;
}

} // namespace nm::track

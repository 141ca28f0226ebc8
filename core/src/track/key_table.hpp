// key_table.hpp - expert keys, their per-thread lanes, and the table that validates key handles.
//
// A key handle is not a pointer: it encodes (generation, slot) under a tag byte that makes it a
// non-canonical address, so a garbage, closed or forged handle is refused by comparing numbers,
// never by dereferencing it.
//
// Every thread that uses a key gets a Lane for it: its own mimalloc heap (mimalloc heaps allocate
// only on their creating thread), its own figures (written only by that thread with plain
// relaxed stores, summed by readers: no shared read-modify-write per call even when many threads
// share a key), a tally of live blocks per stack (so closing never has to visit blocks to group
// them), and the set of 64 KiB chunks its blocks start in (so a key can be closed from another
// thread, or after this thread exited, exactly).
//
// The peak of a key: with one lane it is that lane's peak, exact. Once several threads use the key,
// each lane adds its byte drift to the key's shared total only when the drift reaches
// kPublishBytes (either way), and the key's peak is the highest of: the shared totals seen, the
// first lane's peak when the second joined, and the live bytes now. Each lane's unpublished drift
// stays below kPublishBytes, so with n lanes the reported peak P and the exact peak E satisfy
// E - n * kPublishBytes < P < E + (n - 1) * kPublishBytes. Live bytes and blocks are exact at close.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "track/chunk_set.hpp"
#include "track/query.hpp"
#include "track/tally.hpp"

struct mi_heap_s;

namespace nm::track {

inline constexpr uint64_t kKeyTag = 0xA5;       // top byte of every key handle
inline constexpr uint32_t kMaxKeys = 1u << 16;  // slots; slot 0 is never used
inline constexpr int64_t kPublishBytes = 256 * 1024;

// Retired: closed, but heap blocks (malloc/new) of its run are still live; the slot is kept (so
// their headers still check out and a later free is accounted to the key) until the last is freed.
enum class KeyState : uint8_t { Free = 0, Open = 1, Terminating = 2, Closing = 3, Retired = 4 };

struct KeyHandle {
    uint32_t slot;
    uint32_t gen;
};

inline uint64_t encode_key(uint32_t slot, uint32_t gen) noexcept {
    return (kKeyTag << 56) | (uint64_t(gen) << 16) | slot;
}
inline bool decode_key(const void *h, KeyHandle &out) noexcept {
    uint64_t v = reinterpret_cast<uintptr_t>(h);
    if ((v >> 48) != (kKeyTag << 8)) return false;
    out.slot = uint32_t(v & 0xffff);
    out.gen = uint32_t(v >> 16);
    return out.slot != 0;
}
inline uint64_t key_word(uint32_t gen, KeyState s) noexcept { return (uint64_t(gen) << 8) | uint8_t(s); }
inline uint32_t word_gen(uint64_t w) noexcept { return uint32_t(w >> 8); }
inline KeyState word_state(uint64_t w) noexcept { return KeyState(w & 0xff); }

struct Key;

struct Lane {
    Key *key = nullptr;
    uint32_t gen = 0;
    // Fixed for the lane's life (one key handle): what every call compares and writes. open_word
    // is key_word(gen, Open); salt and base are the header's key parts (header_word_keyed).
    uint64_t open_word = 0, salt = 0, base = 0;
    uint64_t owner = 0;                 // serial of the owning thread
    Lane *next_in_key = nullptr;        // immutable once published in Key::lanes
    Lane *next_in_thread = nullptr;     // owner only
    mi_heap_s *heap = nullptr;          // owner only (and the closer when it is the owner)
    std::atomic<bool> dead{false};      // key closed: the owner deletes its heap and lets go
    std::atomic<int> refs{2};           // one for the key, one for the owning thread
    // Figures, written by the owner only (relaxed stores, no RMW), summed by readers. Live blocks
    // are allocs - frees (a realloc moves a block, it does not add one).
    std::atomic<uint64_t> allocs{0}, reallocs{0}, frees{0};
    std::atomic<int64_t> live_bytes{0}, peak_bytes{0};
    std::atomic<int64_t> published_bytes{0}; // part of live_bytes already in Key::shared_bytes
    uint32_t now_ms = 0;                // coarse clock, refreshed every 64 allocations
    StackTally tally;                   // live blocks/bytes per stack id, owner only until close
    // Heap blocks (malloc/new) of an expert key's run, outside the API: written by the owner only
    // (plain stores), summed by readers. Module keys count their blocks in the figures above.
    std::atomic<uint64_t> heap_in{0}, heap_out{0};
    std::atomic<int64_t> heap_bytes{0};
    // Chunks (address >> 16) where this lane's blocks start: a set only the owner inserts into
    // (under chunk_mu, so readers can lock it), with a direct-mapped cache in front so the hot path
    // touches neither the lock nor the set for a chunk it has seen.
    std::mutex chunk_mu;
    ChunkSet chunks;
    uint64_t chunk_cache[64];

    Lane() { for (auto &c : chunk_cache) c = ~uint64_t{0}; }

    void note_chunk(uintptr_t user) noexcept {
        uint64_t c = user >> 16;
        uint64_t &slot = chunk_cache[c & 63];
        if (__builtin_expect(slot == c, 1)) return;
        slot = c;
        if (!chunks.contains(c)) note_chunk_slow(c);
    }
    void note_chunk_slow(uint64_t c) noexcept;

    static void bump(std::atomic<uint64_t> &counter) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    // Owner only: live byte values outside (lo_mark, hi_mark] take add_bytes to bytes_slow (a new
    // peak, or a drift of kPublishBytes either way from what was published), so the common call
    // makes one compare: hi_mark = min(peak, published + kPublishBytes - 1), lo_mark = published -
    // kPublishBytes.
    int64_t hi_mark = 0, lo_mark = -kPublishBytes;
    void add_bytes(int64_t delta) noexcept {
        const int64_t live = live_bytes.load(std::memory_order_relaxed) + delta;
        live_bytes.store(live, std::memory_order_relaxed);
        if (__builtin_expect(live > hi_mark || live <= lo_mark, 0)) bytes_slow(live);
    }
    // add_bytes for a new block: live grows, so it cannot fall to lo_mark.
    void grow_bytes(int64_t size) noexcept {
        const int64_t live = live_bytes.load(std::memory_order_relaxed) + size;
        live_bytes.store(live, std::memory_order_relaxed);
        if (__builtin_expect(live > hi_mark, 0)) bytes_slow(live);
    }
    // add_bytes for a block going away: it cannot raise the peak.
    void sub_bytes(int64_t size) noexcept {
        const int64_t live = live_bytes.load(std::memory_order_relaxed) - size;
        live_bytes.store(live, std::memory_order_relaxed);
        if (__builtin_expect(live <= lo_mark, 0)) bytes_slow(live);
    }
    void bytes_slow(int64_t live) noexcept;
    void publish(int64_t live, int64_t drift) noexcept;
    void release() noexcept; // drops one reference, deletes the lane at zero
};

struct Key {
    std::atomic<uint64_t> word{0};      // generation << 8 | KeyState
    uint32_t slot = 0;
    std::atomic<Lane *> lanes{nullptr}; // pushed under mu, read lock-free
    std::atomic<uint64_t> id{0};
    // Written only when a lane publishes (see kPublishBytes) or on misuse: off the hot path.
    alignas(64) std::atomic<int64_t> shared_bytes{0};
    std::atomic<int64_t> shared_peak{0};
    std::atomic<int64_t> joined_peak{0}; // the first lane's peak when a second lane joined
    std::atomic<uint64_t> misuse_count{0};

    std::mutex mu; // everything below; also serializes close against snapshots and lane creation
    std::string name;
    uint64_t opened_ms = 0;
    StatusRecord status;
    std::string outcome_detail;
    int32_t crash_signal = 0;
    uint64_t crash_address = 0;
    uint32_t crash_stack = 0;
    // Set once, before the key's first block, for the module keys of the whole heap (never
    // closed, so never reset).
    std::atomic<bool> module{false};
    // An expert key's module (its link_map): heap blocks charged to it, made on a thread working
    // for this key's run, belong to the key. Set by the host runner; null: none.
    std::atomic<const void *> home{nullptr};
    // Under mu, once Retired: the heap blocks the close left behind (addresses; freed ones are
    // skipped by readers), how many are still live, and the frees made after the close.
    std::vector<uint64_t> left;
    uint64_t left_live_blocks = 0, left_live_bytes = 0, left_frees = 0;

    // Sums of the lanes' figures. Exact once no call is in flight on the key (close), a reading
    // of moving counters otherwise.
    struct Figures {
        uint64_t allocs = 0, reallocs = 0, frees = 0;
        int64_t live_bytes = 0, peak_bytes = 0;
        uint64_t live_blocks() const noexcept { return allocs > frees ? allocs - frees : 0; }
    };
    Figures figures() const noexcept;
};

// The key slots. Lookup by handle is lock-free; taking and giving back a slot locks.
class KeyTable {
public:
    Key *find(const void *handle, KeyHandle &kh) const noexcept {
        if (!decode_key(handle, kh)) return nullptr;
        return slots_[kh.slot].load(std::memory_order_acquire);
    }
    Key *at(uint32_t slot) const noexcept { return slots_[slot].load(std::memory_order_acquire); }
    // A free slot's key (created on first use), or nullptr when all slots are taken.
    Key *take();
    void give_back(uint32_t slot);
    // One past the highest slot ever used.
    uint32_t used() const;
    uint64_t next_id() noexcept { return next_id_.fetch_add(1, std::memory_order_relaxed); }
    // Held across fork() so the child never inherits the lock taken.
    void fork_lock() noexcept { mu_.lock(); }
    void fork_unlock() noexcept { mu_.unlock(); }

private:
    std::atomic<Key *> slots_[kMaxKeys] = {};
    mutable std::mutex mu_;
    std::vector<uint32_t> free_;
    uint32_t next_slot_ = 1;
    std::atomic<uint64_t> next_id_{1};
};

} // namespace nm::track

// reclaim.cpp - the opt-in reclaim, at a key's close, of the heap blocks its run left behind that
// nothing can reach any more (NMLEAK_RECLAIM_LEFT_BEHIND=unreachable, NmSetLeftBehindReclaim).
//
// Safe only as far as a conservative pass can be: the pass (reach.hpp) sees every root the
// process has in memory it can scan and every block the tracker knows, so a block nothing there
// points into cannot be used again by ordinary code. A pointer the program hides (xor'd, in a
// file, only in the kernel, in memory the tracker does not know) escapes it: that is why the
// reclaim is off unless asked for, and why it frees nothing when the pass could not hold every
// thread still.
#include <mimalloc.h>
#include <time.h>

#include <algorithm>
#include <unordered_map>

#include "track/reach.hpp"
#include "track/tracker.hpp"
#include "track/tsan.hpp"

namespace nm::track {
namespace {

constexpr unsigned kReclaimAttempts = 5;

bool still_live(const reach::BlockRef &b, void *) {
    return Tracker::get().block_live(uintptr_t(b.address), b.size, b.api);
}

void add_refs(const std::vector<BlockRecord> &blocks, std::vector<reach::BlockRef> &refs) {
    for (const BlockRecord &b : blocks) refs.push_back({uintptr_t(b.address), b.size, b.origin == 0});
}

} // namespace

// Every live block the tracker knows (open keys, module keys, other closed keys' left-behind
// blocks) and then the closing key's own left-behind ones, from `first` on. A function of its own
// (noinline) so no block address stays in the caller's frame or registers when the pass scans
// the stack from there.
__attribute__((noinline)) static size_t reclaim_refs(Tracker &t, Key *k, uint32_t gen, ThreadState *self,
                                                     std::vector<reach::BlockRef> &refs) {
    Reading r;
    t.read(r, true, Query::kNoHistory); // the closing key is neither open nor retired: not in r
    size_t n = k->left.size();
    for (const KeyRecord &e : r.open) n += e.blocks.size();
    for (const KeyRecord &e : r.retired) n += e.blocks.size();
    refs.reserve(n);
    for (const KeyRecord &e : r.open) add_refs(e.blocks, refs);
    for (const KeyRecord &e : r.retired) add_refs(e.blocks, refs);
    const size_t first = refs.size();
    self->in_api.store(kClaimsAnyKey, std::memory_order_relaxed); // see wait_for_claims
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (uint64_t user : k->left) {
        uint64_t size = 0;
        uint8_t seen;
        if (std::atomic<uint8_t> *g = t.claim(uintptr_t(user), seen)) {
            const BlockHeader h = *reinterpret_cast<const BlockHeader *>(user - sizeof(BlockHeader));
            Tracker::unclaim(g);
            if (header_fn(h.stack) != 0 && check_header(h.word, k->slot, gen) == HeaderCheck::Ok)
                size = header_size(h.word);
        }
        refs.push_back({uintptr_t(user), size, false}); // size 0 if freed meanwhile: never lost
    }
    self->in_api.store(0, std::memory_order_release);
    return first;
}

void Tracker::reclaim_unreachable(Key *k, uint32_t gen, ThreadState *self, CloseRecord &c) {
    std::vector<reach::BlockRef> refs;
    const size_t first = reclaim_refs(*this, k, gen, self, refs);
    std::vector<uint8_t> cls;
    reach::Stats st;
    // A thread that is starting or ending (glibc blocks every signal then) cannot be stopped for
    // a moment: try again shortly, a few times.
    for (unsigned attempt = 0;; ++attempt) {
        reach::classify_here(refs, cls, reach::Options{}, &st, still_live, nullptr);
        if (st.threads_not_stopped == 0 && !st.safe_reads && cls.size() == refs.size()) break;
        if (attempt == kReclaimAttempts - 1) {
            // A thread that kept running may have moved a pointer where the pass had already looked.
            c.reclaim_note = "none reclaimed: the reachability pass could not stop every thread" +
                             (st.limits.empty() ? std::string() : " (" + st.limits + ")");
            return;
        }
        const timespec pause = {0, long(1000000) << attempt}; // 1, 2, 4, 8 ms
        nanosleep(&pause, nullptr);
    }

    std::unordered_map<uint32_t, std::pair<uint64_t, uint64_t>> freed; // stack -> blocks, bytes
    self->in_api.store(kClaimsAnyKey, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (size_t i = first; i < refs.size(); ++i) {
        if (cls[i] != reach::kDefinitelyLost && cls[i] != reach::kIndirectlyLost) continue;
        const uintptr_t user = refs[i].address;
        uint8_t seen;
        std::atomic<uint8_t> *g = claim(user, seen);
        if (!g) continue; // freed since it was listed
        BlockHeader *h = reinterpret_cast<BlockHeader *>(user - sizeof(BlockHeader));
        const BlockHeader copy = *h;
        if (header_fn(copy.stack) == 0 || check_header(copy.word, k->slot, gen) != HeaderCheck::Ok) {
            unclaim(g); // the address serves another block now
            continue;
        }
        // Freed before mi_free, as every free does: afterwards the address may be handed out again.
        g->store(uint8_t(Granule::Freed), std::memory_order_release);
        tsan_freeing(h);
        mi_free(h);
        auto &agg = freed[header_stack_id(copy.stack)];
        ++agg.first;
        agg.second += header_size(copy.word);
        ++c.reclaimed_blocks;
        c.reclaimed_bytes += header_size(copy.word);
        k->left[i - first] = 0;
    }
    self->in_api.store(0, std::memory_order_release);
    if (c.reclaimed_blocks == 0) return;

    k->left.erase(std::remove(k->left.begin(), k->left.end(), uint64_t{0}), k->left.end());
    c.left_blocks -= std::min(c.left_blocks, c.reclaimed_blocks);
    c.left_bytes -= std::min(c.left_bytes, c.reclaimed_bytes);
    auto by_bytes = [](const StackGroupRecord &a, const StackGroupRecord &b) {
        return a.bytes > b.bytes || (a.bytes == b.bytes && a.stack < b.stack);
    };
    for (StackGroupRecord &g : c.left_stacks) {
        auto it = freed.find(g.stack);
        if (it == freed.end()) continue;
        g.blocks -= std::min(g.blocks, it->second.first);
        g.bytes -= std::min(g.bytes, it->second.second);
    }
    c.left_stacks.erase(std::remove_if(c.left_stacks.begin(), c.left_stacks.end(),
                                       [](const StackGroupRecord &g) { return g.blocks == 0; }),
                        c.left_stacks.end());
    std::sort(c.left_stacks.begin(), c.left_stacks.end(), by_bytes);
    for (auto &[stack, agg] : freed) c.reclaimed_stacks.push_back({stack, agg.first, agg.second});
    std::sort(c.reclaimed_stacks.begin(), c.reclaimed_stacks.end(), by_bytes);
}

} // namespace nm::track

// reach_capture.cpp - classifies a fresh snapshot's live blocks by reachability (track/reach.hpp).
#include <cstdlib>
#include <cstring>
#include <vector>

#include "model/reach_capture.hpp"
#include "nmleak/capture.hpp"
#include "track/query.hpp"
#include "track/reach.hpp"

namespace nm {
namespace {

// Blocks in snapshot order. A function of its own, so that no block address is left in the
// registers or the frame of the caller when the pass starts scanning from there.
__attribute__((noinline)) std::vector<track::reach::BlockRef> block_refs(const model::Snapshot &snap) {
    std::vector<track::reach::BlockRef> refs;
    size_t n = 0;
    for (const model::Expert &e : snap.experts) n += e.blocks.size();
    refs.reserve(n);
    for (const model::Expert &e : snap.experts)
        for (const model::Block &b : e.blocks) refs.push_back({b.address, b.size, b.origin == model::BlockOrigin::Api});
    return refs;
}

bool still_live(const track::reach::BlockRef &b, void *) {
    return track::Query::block_live(b.address, b.size, b.api);
}

track::reach::Stats g_last;

} // namespace

bool reach_enabled() {
    const char *s = std::getenv("NMLEAK_REACH");
    return !(s && (std::strcmp(s, "0") == 0 || std::strcmp(s, "off") == 0));
}

__attribute__((noinline)) void classify_reach(model::Snapshot &snap) {
    std::vector<track::reach::BlockRef> refs = block_refs(snap);
    std::vector<uint8_t> out;
    track::reach::Stats st;
    track::reach::classify_here(refs, out, {}, &st, still_live, nullptr);
    size_t i = 0;
    for (model::Expert &e : snap.experts)
        for (model::Block &b : e.blocks) b.reach = model::Reach(i < out.size() ? out[i++] : 0);
    snap.process.reach_classified = true;
    snap.process.reach_note = st.limits;
    g_last = st;
}

const track::reach::Stats &last_reach_stats() { return g_last; }

static_assert(sizeof(track::reach::Entry) <= sizeof(uintptr_t) * 17, "ReachEntry holds a track::reach::Entry");

ReachEntry::ReachEntry() noexcept { track::reach::enter(reinterpret_cast<track::reach::Entry *>(storage_)); }

ReachEntry::~ReachEntry() { track::reach::leave(reinterpret_cast<track::reach::Entry *>(storage_)); }

} // namespace nm

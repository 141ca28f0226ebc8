// agent_hooks.cpp - tracker look-ups the live agent needs that the public API does not offer.
//
// Clients name keys by model::Expert::id; NmRequestExpertTerminate takes a handle. Tracker has no
// public id -> handle look-up yet, so this file reads Tracker::slots_ through the one sanctioned
// door C++ leaves to private members: an explicit template instantiation may name them
// ([temp.spec.general]/6). It reads only atomics the tracker already publishes for lock-free
// readers (slots_, Key::word, Key::id) and validates through the public request_terminate().
//
// TODO(lead): replace with a public member, then delete the access trick below:
//   tracker.hpp:  void *handle_for_id(uint64_t id) const noexcept;
//   body:         the loop in handle_for_id() below, with slots_ read directly.
#include <nmleak/live.hpp>

#include "netmon.h"
#include "track/tracker.hpp"

namespace nm::track {
namespace {

using SlotArray = std::atomic<Key *>[kMaxKeys];

template <typename Tag, typename Tag::type Member>
struct Expose {
    friend typename Tag::type member(Tag) { return Member; }
};
struct SlotsTag {
    using type = SlotArray Tracker::*;
    friend type member(SlotsTag);
};
template struct Expose<SlotsTag, &Tracker::slots_>;

// The handle of the open (or terminating) key with this id, or nullptr.
void *handle_for_id(Tracker &t, uint64_t id) noexcept {
    const SlotArray &slots = t.*member(SlotsTag{});
    for (uint32_t s = 1; s < kMaxKeys; ++s) {
        Key *k = slots[s].load(std::memory_order_acquire);
        if (!k) continue;
        // open_key() stores the id, then publishes the word with release: a word read with acquire
        // before the id pairs with that id. A second read of the word catches a close + reopen in
        // between; request_terminate() re-validates the generation anyway.
        const uint64_t w = k->word.load(std::memory_order_acquire);
        const KeyState st = word_state(w);
        if (st != KeyState::Open && st != KeyState::Terminating) continue;
        if (k->id.load(std::memory_order_relaxed) != id) continue;
        if (k->word.load(std::memory_order_acquire) != w) return nullptr;
        return reinterpret_cast<void *>(encode_key(s, word_gen(w)));
    }
    return nullptr;
}

} // namespace
} // namespace nm::track

namespace nm::live {

uint32_t request_terminate_by_id(uint64_t id) {
    auto &t = track::Tracker::get();
    void *handle = track::handle_for_id(t, id);
    if (!handle) return NMERR_INVALID_EXPERT_HANDLE;
    return t.request_terminate(handle);
}

} // namespace nm::live

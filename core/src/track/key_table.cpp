// key_table.cpp - KeyTable slots, lane figures and their publication to the key.
#include "track/key_table.hpp"

#include <algorithm>
#include <new>

namespace nm::track {

void Lane::note_chunk_slow(uint64_t c) noexcept {
    std::lock_guard<std::mutex> lock(chunk_mu);
    chunks.insert(c);
}

__attribute__((noinline)) void Lane::bytes_slow(int64_t live) noexcept {
    int64_t peak = peak_bytes.load(std::memory_order_relaxed);
    if (live > peak) peak_bytes.store(peak = live, std::memory_order_relaxed);
    int64_t published = published_bytes.load(std::memory_order_relaxed);
    const int64_t drift = live - published;
    if (drift >= kPublishBytes || drift <= -kPublishBytes) {
        publish(live, drift);
        published = live;
    }
    hi_mark = std::min(peak, published + kPublishBytes - 1);
    lo_mark = published - kPublishBytes;
}

__attribute__((noinline)) void Lane::publish(int64_t live, int64_t drift) noexcept {
    published_bytes.store(live, std::memory_order_relaxed);
    const int64_t total = key->shared_bytes.fetch_add(drift, std::memory_order_relaxed) + drift;
    int64_t peak = key->shared_peak.load(std::memory_order_relaxed);
    while (total > peak && !key->shared_peak.compare_exchange_weak(peak, total, std::memory_order_relaxed)) {}
}

void Lane::release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

Key::Figures Key::figures() const noexcept {
    Figures f;
    unsigned n = 0;
    int64_t lane_peak = 0;
    for (Lane *l = lanes.load(std::memory_order_acquire); l; l = l->next_in_key, ++n) {
        f.allocs += l->allocs.load(std::memory_order_relaxed);
        f.reallocs += l->reallocs.load(std::memory_order_relaxed);
        f.frees += l->frees.load(std::memory_order_relaxed);
        f.live_bytes += l->live_bytes.load(std::memory_order_relaxed);
        lane_peak = l->peak_bytes.load(std::memory_order_relaxed);
    }
    f.live_bytes = std::max<int64_t>(0, f.live_bytes);
    // One lane: its own peak is the key's. Several: a lane's peak alone says nothing (another
    // lane may have freed its blocks), see kPublishBytes.
    if (n == 1) f.peak_bytes = std::max(lane_peak, f.live_bytes);
    else f.peak_bytes = std::max({shared_peak.load(std::memory_order_relaxed),
                                  joined_peak.load(std::memory_order_relaxed), f.live_bytes});
    return f;
}

Key *KeyTable::take() {
    uint32_t slot;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!free_.empty()) {
            slot = free_.back();
            free_.pop_back();
        } else if (next_slot_ < kMaxKeys) {
            slot = next_slot_++;
        } else {
            return nullptr;
        }
    }
    Key *k = slots_[slot].load(std::memory_order_acquire);
    if (!k) {
        k = new (std::nothrow) Key();
        if (!k) {
            give_back(slot);
            return nullptr;
        }
        k->slot = slot;
        slots_[slot].store(k, std::memory_order_release);
    }
    return k;
}

void KeyTable::give_back(uint32_t slot) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot);
}

uint32_t KeyTable::used() const {
    std::lock_guard<std::mutex> lock(mu_);
    return next_slot_;
}

} // namespace nm::track

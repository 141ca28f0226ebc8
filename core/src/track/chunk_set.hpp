// chunk_set.hpp - the set of 64 KiB chunks a lane's blocks start in (open addressing, no deletes).
//
// A close from another thread, or a snapshot, scans only these chunks of the live map to find a
// lane's blocks. The owner thread inserts (under the lane's chunk_mu) and looks up without the
// lock: it is the only writer. Readers copy it under the lock.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <vector>

namespace nm::track {

class ChunkSet {
public:
    ChunkSet() = default;
    ChunkSet(const ChunkSet &) = delete;
    ChunkSet &operator=(const ChunkSet &) = delete;
    ~ChunkSet() { std::free(slots_); }

    bool contains(uint64_t c) const noexcept {
        if (!cap_) return false;
        for (size_t i = mix(c) & (cap_ - 1);; i = (i + 1) & (cap_ - 1)) {
            if (slots_[i] == c + 1) return true;
            if (slots_[i] == 0) return false;
        }
    }
    // False only when memory for a larger table cannot be had.
    bool insert(uint64_t c) noexcept {
        if ((size_ + 1) * 2 > cap_ && !grow()) return false;
        for (size_t i = mix(c) & (cap_ - 1);; i = (i + 1) & (cap_ - 1)) {
            if (slots_[i] == c + 1) return true;
            if (slots_[i] == 0) { slots_[i] = c + 1; ++size_; return true; }
        }
    }
    void append_to(std::vector<uint64_t> &out) const {
        for (size_t i = 0; i < cap_; ++i)
            if (slots_[i]) out.push_back(slots_[i] - 1);
    }
    void clear() noexcept {
        std::free(slots_);
        slots_ = nullptr;
        cap_ = size_ = 0;
    }
    size_t size() const noexcept { return size_; }

private:
    static size_t mix(uint64_t c) noexcept { return size_t((c * 0x9E3779B97F4A7C15ull) >> 32); }
    bool grow() noexcept {
        size_t ncap = cap_ ? cap_ * 2 : 16;
        auto *n = static_cast<uint64_t *>(std::calloc(ncap, sizeof(uint64_t)));
        if (!n) return false;
        for (size_t i = 0; i < cap_; ++i) {
            if (!slots_[i]) continue;
            for (size_t j = mix(slots_[i] - 1) & (ncap - 1);; j = (j + 1) & (ncap - 1))
                if (!n[j]) { n[j] = slots_[i]; break; }
        }
        std::free(slots_);
        slots_ = n;
        cap_ = ncap;
        return true;
    }

    uint64_t *slots_ = nullptr; // chunk + 1; 0 = empty
    size_t cap_ = 0, size_ = 0;
};

} // namespace nm::track

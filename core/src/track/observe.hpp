// observe.hpp - how the tracker's reading adds the blocks of an observed heap (heap_observe.cpp:
// `nmleak attach`, where the process's own allocator made them) to their module keys.
#pragma once

#include <cstdint>

#include "track/query.hpp"

namespace nm::track {

// Adds the observed figures (and, with include_blocks, blocks) of key slot `slot` to rec.
// observe_reserve first, outside any lock the caller may want to keep short.
void observe_reserve(uint32_t slot, KeyRecord &rec);
void observe_fill(uint32_t slot, KeyRecord &rec, bool include_blocks);

} // namespace nm::track

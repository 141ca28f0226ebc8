// agent_hooks.cpp - tracker look-ups the live agent needs beyond the C API: terminate by key id.
#include <nmleak/live.hpp>

#include "nmhost.h"
#include "track/query.hpp"

namespace nm::live {

// Clients name keys by model::Expert::id; NmRequestExpertTerminate takes a handle.
uint32_t request_terminate_by_id(uint64_t id) {
    void *handle = track::Query::handle_for_id(id);
    if (!handle) return NMERR_INVALID_EXPERT_HANDLE;
    return NmRequestExpertTerminate(handle); // re-validates the generation
}

} // namespace nm::live

// snapshot_find.hpp - small helpers for tests that inspect nm::capture_snapshot().
#pragma once

#include <string>

#include "nmleak/capture.hpp"

namespace nmtest {

// The most recent expert record with this name (keys are listed oldest first), or nullptr.
inline const nm::model::Expert *find_expert(const nm::model::Snapshot &s, const std::string &name) {
    for (auto it = s.experts.rbegin(); it != s.experts.rend(); ++it)
        if (it->name == name) return &*it;
    return nullptr;
}

// True when some frame of the stack names `function` (substring match on the demangled name).
inline bool stack_has_function(const nm::model::Snapshot &s, uint32_t stack, const std::string &function) {
    if (stack >= s.stacks.size()) return false;
    for (uint32_t f : s.stacks[stack].frames)
        if (s.frames[f].function.find(function) != std::string::npos) return true;
    return false;
}

} // namespace nmtest

// module_keys.hpp - which loaded module a code address belongs to, what role it plays for the heap
// (an allocation wrapper to look through, nmleak's own code, or a module to charge), and its key.
//
// Lookups run inside malloc: a lock-free direct-mapped cache from address to module index, and on
// a miss _dl_find_object (lock-free, never the loader's lock) plus a scan of the module array.
// Adding a module, naming it and opening its key happen under a spin lock; that path may
// allocate (the caller has the heap's recursion guard up, so those blocks are nmleak's own).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nm::track {

enum class ModuleRole : uint8_t {
    Charged = 0, // blocks made from here are charged to this module's key
    Wrapper = 1, // an allocation wrapper: look at the next frame (libc, libstdc++, the loader...)
    Own = 2,     // nmleak's own code: its blocks are not tracked
};

struct ModuleEntry {
    uintptr_t start = 0, end = 0;
    const void *link_map = nullptr;
    ModuleRole role = ModuleRole::Charged;
    std::atomic<bool> live{true};       // false once the object was unloaded
    std::atomic<void *> key{nullptr};   // the module key's handle, opened on first use
    char name[128] = {};                // file name (the executable's for the main program)
};

class ModuleTable {
public:
    static constexpr size_t kMaxModules = 2048;

    // The module holding code address pc, or nullptr (generated code, or the table is full).
    const ModuleEntry *lookup(uintptr_t pc) noexcept {
        const uint64_t w = cache_[slot_of(pc)].load(std::memory_order_acquire);
        if (__builtin_expect((w >> 16) == pc && w, 1)) return &entries_[(w & 0xffff) - 1];
        return lookup_slow(pc);
    }
    // The module a block made with this stack is charged to: the first frame outside the
    // allocation wrappers (or, if every frame is a wrapper, the first one; `unknown` when no frame
    // is in a known module).
    const ModuleEntry *charged(const uintptr_t *frames, size_t n, const ModuleEntry *unknown) noexcept {
        const ModuleEntry *first = nullptr;
        for (size_t i = 0; i < n; ++i) {
            const ModuleEntry *e = lookup(frames[i]);
            if (!e) continue;
            if (e->role != ModuleRole::Wrapper) return e;
            if (!first) first = e;
        }
        return first ? first : unknown;
    }
    // Extra wrapper patterns (fnmatch on the file name), e.g. "libglib-2.0.so*", "libmyalloc.so".
    void add_wrapper_patterns(const char *list); // separated by ':' or ','
    // After a dlclose: forget cached addresses and mark unloaded modules.
    void objects_changed() noexcept;

    template <class Fn> void for_each(Fn &&fn) const {
        const size_t n = count_.load(std::memory_order_acquire);
        for (size_t i = 0; i < n; ++i) fn(entries_[i]);
    }
    // Serializes opening module keys (heap_ops.cpp) with adding modules.
    // Fork: hold the table's lock across fork() so the child never inherits it held.
    void lock() noexcept { while (lock_.test_and_set(std::memory_order_acquire)) {} }
    void unlock() noexcept { lock_.clear(std::memory_order_release); }

private:
    static constexpr size_t kCacheSlots = 1u << 13;
    static size_t slot_of(uintptr_t pc) noexcept { return (pc * 0x9E3779B97F4A7C15ull) >> (64 - 13); }
    const ModuleEntry *lookup_slow(uintptr_t pc) noexcept;
    ModuleRole role_for(const char *name) const noexcept;

    std::atomic<uint64_t> cache_[kCacheSlots] = {}; // pc << 16 | (index + 1)
    ModuleEntry entries_[kMaxModules];
    std::atomic<size_t> count_{0};
    std::atomic_flag lock_ = ATOMIC_FLAG_INIT;
    std::vector<std::string> patterns_; // set before tracking starts
};

} // namespace nm::track

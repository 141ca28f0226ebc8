// module_keys.cpp - the module table's slow path: find the object of an address, name it, give it
// its role.
#include "track/module_keys.hpp"

#include <dlfcn.h>
#include <fnmatch.h>
#include <link.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace nm::track {
namespace {

const char *base_name(const char *path) noexcept {
    const char *slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

bool starts_with(const char *s, const char *prefix) noexcept { return std::strncmp(s, prefix, std::strlen(prefix)) == 0; }

} // namespace

ModuleRole ModuleTable::role_for(const char *name) const noexcept {
    // nmleak's own libraries, and mimalloc under them.
    if (starts_with(name, "libnmapi.so") || starts_with(name, "libnmleak-")) return ModuleRole::Own;
    static const char *const kWrappers[] = {"libc.so", "libstdc++.so", "libgcc_s.so", "ld-linux", "libc++.so",
                                            "libc++abi.so", "libpthread.so", "libdl.so", "libmimalloc.so",
                                            "libdw.so", "libelf.so"};
    for (const char *w : kWrappers)
        if (starts_with(name, w)) return ModuleRole::Wrapper;
    for (const std::string &p : patterns_)
        if (fnmatch(p.c_str(), name, 0) == 0) return ModuleRole::Wrapper;
    return ModuleRole::Charged;
}

void ModuleTable::add_wrapper_patterns(const char *list) {
    if (!list) return;
    std::string cur;
    for (const char *c = list;; ++c) {
        if (!*c || *c == ':' || *c == ',') {
            if (!cur.empty()) patterns_.push_back(cur);
            cur.clear();
            if (!*c) break;
        } else {
            cur += *c;
        }
    }
}

const ModuleEntry *ModuleTable::lookup_slow(uintptr_t pc) noexcept {
    dl_find_object fo;
    if (_dl_find_object(reinterpret_cast<void *>(pc), &fo) != 0) return nullptr;
    const uintptr_t start = reinterpret_cast<uintptr_t>(fo.dlfo_map_start);
    const ModuleEntry *found = nullptr;
    size_t index = 0;
    const size_t n = count_.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i) {
        const ModuleEntry &e = entries_[i];
        if (e.start == start && e.link_map == fo.dlfo_link_map && e.live.load(std::memory_order_relaxed)) {
            found = &e;
            index = i;
            break;
        }
    }
    if (!found) {
        lock();
        const size_t m = count_.load(std::memory_order_relaxed);
        for (size_t i = n; i < m && !found; ++i)
            if (entries_[i].start == start && entries_[i].link_map == fo.dlfo_link_map) {
                found = &entries_[i];
                index = i;
            }
        if (!found && m < kMaxModules) {
            ModuleEntry &e = entries_[m];
            e.start = start;
            e.end = reinterpret_cast<uintptr_t>(fo.dlfo_map_end);
            e.link_map = fo.dlfo_link_map;
            const link_map *lm = fo.dlfo_link_map;
            const char *path = lm && lm->l_name ? lm->l_name : "";
            char exe[512];
            if (!*path) {
                // The main program has an empty l_name.
                const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
                exe[len > 0 ? len : 0] = '\0';
                path = exe;
            }
            const char *base = base_name(path);
            std::memcpy(e.name, base, strnlen(base, sizeof e.name - 1));
            e.role = role_for(e.name);
            found = &e;
            index = m;
            count_.store(m + 1, std::memory_order_release);
        }
        unlock();
        if (!found) return nullptr;
    }
    cache_[slot_of(pc)].store((uint64_t(pc) << 16) | uint64_t(index + 1), std::memory_order_release);
    return found;
}

void ModuleTable::objects_changed() noexcept {
    for (auto &c : cache_) c.store(0, std::memory_order_relaxed);
    lock();
    const size_t n = count_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < n; ++i) {
        ModuleEntry &e = entries_[i];
        dl_find_object fo;
        const bool still = _dl_find_object(reinterpret_cast<void *>(e.start), &fo) == 0 &&
                           fo.dlfo_link_map == e.link_map &&
                           reinterpret_cast<uintptr_t>(fo.dlfo_map_start) == e.start;
        if (!still) e.live.store(false, std::memory_order_relaxed);
    }
    unlock();
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

} // namespace nm::track

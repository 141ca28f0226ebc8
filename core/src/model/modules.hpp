// modules.hpp - the loaded objects (executable, shared objects, vdso) of this process, with build ids.
#pragma once

#include <nmleak/model.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace nm {

// Every object loaded in this process, in the dynamic loader's order (the main executable first),
// read with dl_iterate_phdr:
// - path: the main executable's real path (/proc/self/exe), "[vdso]" for the vdso, otherwise the
//   loader's name for the object;
// - base: the lowest mapped address of the object (load bias + lowest PT_LOAD vaddr, page-aligned
//   down). For PIE executables and shared objects that is the load bias, so
//   `address - base` is the ELF virtual address tools such as addr2line take;
// - size: the span from base to the end of the highest PT_LOAD segment;
// - build_id: the NT_GNU_BUILD_ID note in hex, empty when the object has none.
// Safe from any thread; allocates, so never on an allocation hot path.
std::vector<model::Module> list_modules();

// The module whose [base, base + size) holds `address`, or nullptr.
const model::Module *find_module(const std::vector<model::Module> &modules, uint64_t address);

// Changes each time the dynamic loader adds or removes an object (dlopen/dlclose), so callers that
// cache per-module data know when to refresh. Walks the loader's list: cheap, but not free.
uint64_t module_generation();

} // namespace nm

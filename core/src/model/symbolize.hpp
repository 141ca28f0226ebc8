// symbolize.hpp - resolves a process's absolute code addresses to model::Frame (function, file, line).
#pragma once

#include <nmleak/model.hpp>

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nm {

// Symbolizes code addresses of one process (this one by default) with elfutils libdw.
//
// - function: the innermost function, demangled. With DWARF, an address inside inlined code names
//   the inlined function (matching the file:line); otherwise the ELF symbol table's name; empty when
//   neither knows it.
// - file, line: from the DWARF line table (local debug info, including /usr/lib/debug by build id);
//   empty / 0 without debug info.
// - module, module_offset: the mapped object's path ("[vdso]" for the vdso) and address - its lowest
//   mapped address; set whenever the address lies in a mapped file, debug info or not.
// - An address in no mapped object (0, a wild pointer) gives a Frame with only `address` set.
//
// Results are cached per address, so resolving the same stacks again is a hash lookup. Objects
// loaded after construction (dlopen) are picked up on the first address that misses. A module's
// ELF, symbols and DWARF are loaded once, on the first address in it, and kept while the
// instance lives (libdwfl keys modules by path and address range). A module unloaded since
// (dlclose) keeps its data, so the frames its blocks and records still hold keep their names, until
// release_unreferenced() finds no address in it; addresses that a newer mapping covers are
// resolved against the newer one.
// Separate debug info is looked up locally; debuginfod is used only when DEBUGINFOD_URLS is set and
// NMLEAK_DEBUGINFOD=1, so a report never waits on the network by surprise.
//
// Allocates and opens files: never call it on an allocation hot path. Instances are independent;
// one instance may be shared between threads (calls are serialized by an internal mutex).
class Symbolizer {
public:
    enum class AddressKind {
        Return, // a return address (stack frames): looked up at address - 1, inside the call
        Exact,  // an instruction address (a faulting PC, a function's entry)
    };

    // Reads the process's mappings (/proc/PID/maps). For another process the caller needs
    // permission to read its maps (same user; the vdso also needs ptrace access to /proc/PID/mem).
    explicit Symbolizer(pid_t pid = getpid());
    ~Symbolizer();
    Symbolizer(Symbolizer &&) noexcept;
    Symbolizer &operator=(Symbolizer &&) noexcept;
    Symbolizer(const Symbolizer &) = delete;
    Symbolizer &operator=(const Symbolizer &) = delete;

    // False when the process's mappings could not be read (gone, no permission); every frame then
    // carries only its address.
    bool ok() const;
    pid_t pid() const;

    model::Frame resolve(uint64_t address, AddressKind kind = AddressKind::Return);
    // One Frame per address, in order.
    std::vector<model::Frame> resolve(const std::vector<uint64_t> &addresses,
                                      AddressKind kind = AddressKind::Return);

    // Addresses resolved so far (cache entries).
    size_t cached() const;
    // Modules whose ELF (with its symbols and DWARF) was opened so far: each one once.
    size_t modules_loaded() const;
    // Modules no longer mapped whose data is kept for the frames that still refer to them.
    size_t modules_unloaded() const;
    // Lets go of the unloaded modules in which none of `addresses` lies (the frames of everything
    // the process still holds); returns how many.
    size_t release_unreferenced(const std::vector<uint64_t> &addresses);

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
};

// The symbolizer of this process, made on first use and kept for the process's life, so every
// snapshot, update and report of the process shares its loaded modules.
Symbolizer &process_symbolizer();

} // namespace nm

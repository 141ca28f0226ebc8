// got_patch.hpp - redirects functions a running process imports, module by module, by rewriting
// their GOT entries (R_X86_64_JUMP_SLOT for calls through the PLT, R_X86_64_GLOB_DAT for
// addresses taken through the GOT), and puts them back.
//
// Runs inside the target (the agent library). Every pass walks the loaded objects with
// dl_iterate_phdr, so the loader's lock is held while entries are written: no object can be
// unloaded under us. Entries in RELRO (read-only after relocation) are made writable for the one
// 8-byte store and read-only again. A lazily bound entry that still points at its own PLT stub is
// redirected too; put back, it points at the stub again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nm::got {

struct Redirect {
    const char *name; // the imported symbol ("malloc", "_Znwm")
    void *hook;       // what its entries point to while patched
    void *real;       // the definition the process binds it to (dlsym RTLD_DEFAULT)
    bool must_match;  // an entry bound to anything but `real` refuses the whole patch
    // A non-PIE executable that takes the function's address gives it a canonical PLT entry
    // there, and every GOT_DAT entry of the process is bound to that stub, which jumps through
    // the executable's own (redirected) entry: such entries are left alone. Or nullptr.
    void *canonical = nullptr;
};

struct PatchStats {
    size_t modules = 0;  // modules with at least one redirected entry
    size_t entries = 0;  // entries redirected
    size_t kept = 0;     // entries bound elsewhere (not must_match): left alone
    size_t repaired = 0; // entries found bound to `real` again (a lazy binding that raced us)
    size_t refused = 0;  // modules loaded later left alone: bound to another allocator
};

class Patcher {
public:
    // skip: file-name prefixes of modules never patched (nmleak's own libraries).
    Patcher(std::vector<Redirect> redirects, std::vector<std::string> skip);

    // Redirects the entries of every loaded module not patched yet, and re-redirects entries of
    // patched modules found bound to `real` again. A module whose must_match entry is bound
    // elsewhere (another allocator): strict, the pass stops there and returns false with *error
    // (modules written before it stay redirected: restore() them); else it is left alone.
    bool patch(PatchStats *stats, std::string *error, bool strict = true);
    // Puts every entry still pointing at its hook back to what it held. Modules unloaded since are
    // skipped (their memory is gone).
    void restore();
    // dl_iterate_phdr's count of objects loaded and unloaded: changes when patch() has work.
    static uint64_t load_generation();

    size_t patched_entries() const;

private:
    struct Slot {
        uintptr_t address;
        uintptr_t original;
        uint32_t redirect; // index in redirects_
    };
    struct Module {
        uintptr_t base;
        std::string name;
        std::vector<Slot> slots;
        bool present; // seen by the current pass
    };
    friend struct PatchPass;

    std::vector<Redirect> redirects_;
    std::vector<std::string> skip_;
    std::vector<Module> modules_;
};

} // namespace nm::got

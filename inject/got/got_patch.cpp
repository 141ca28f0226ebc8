// got_patch.cpp - GOT entries of the loaded modules: find them from each object's dynamic section,
// redirect them, put them back.
#include "got_patch.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace nm::got {
namespace {

uintptr_t page_size() {
    static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    return page;
}

const char *base_name(const char *path) {
    const char *slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

// Where the loader put a d_ptr: glibc relocates the dynamic section's pointers in place for
// ordinary objects; left as file addresses, they are below the load bias.
uintptr_t dyn_ptr(const dl_phdr_info *info, ElfW(Addr) p) {
    const uintptr_t bias = info->dlpi_addr;
    return (bias && p < bias) ? bias + p : p;
}

// The protection the loader left on the page holding `address`: its PT_LOAD's, or read-only
// inside PT_GNU_RELRO (whole pages only: the loader rounds the end down). -1 if not mapped.
int protection_at(const dl_phdr_info *info, uintptr_t address) {
    int prot = -1;
    bool relro = false;
    const uintptr_t page = page_size();
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
        if (ph.p_type == PT_LOAD && address >= start && address < start + ph.p_memsz) {
            prot = ((ph.p_flags & PF_R) ? PROT_READ : 0) | ((ph.p_flags & PF_W) ? PROT_WRITE : 0) |
                   ((ph.p_flags & PF_X) ? PROT_EXEC : 0);
        } else if (ph.p_type == PT_GNU_RELRO) {
            const uintptr_t lo = start & ~(page - 1), hi = (start + ph.p_memsz) & ~(page - 1);
            relro |= address >= lo && address < hi;
        }
    }
    if (prot >= 0 && relro) prot = PROT_READ;
    return prot;
}

// The span of the object's own mappings: a lazily bound entry not called yet points in there.
void object_span(const dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi) {
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD) continue;
        const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
        if (start < *lo) *lo = start;
        if (start + ph.p_memsz > *hi) *hi = start + ph.p_memsz;
    }
}

bool store(const dl_phdr_info *info, uintptr_t address, uintptr_t value) {
    const int prot = protection_at(info, address);
    if (prot < 0) return false;
    if (prot & PROT_WRITE) {
        __atomic_store_n(reinterpret_cast<uintptr_t *>(address), value, __ATOMIC_RELEASE);
        return true;
    }
    void *page = reinterpret_cast<void *>(address & ~(page_size() - 1));
    if (mprotect(page, page_size(), prot | PROT_WRITE) != 0) return false;
    __atomic_store_n(reinterpret_cast<uintptr_t *>(address), value, __ATOMIC_RELEASE);
    mprotect(page, page_size(), prot);
    return true;
}

uintptr_t load(uintptr_t address) { return __atomic_load_n(reinterpret_cast<uintptr_t *>(address), __ATOMIC_ACQUIRE); }

} // namespace

// One walk over the loaded objects (dl_iterate_phdr's callback, under the loader's lock).
struct PatchPass {
    enum class Mode { Collect, Write, Restore, Generation };
    Patcher *self;
    Mode mode;
    std::vector<Patcher::Module> pending; // Collect: new modules with their entries, not written
    std::string error;
    PatchStats *stats = nullptr;
    uint64_t generation = 0;
    bool strict = true;       // Write: a refused module fails the pass (else it is skipped)
    uintptr_t bad_target = 0; // where the refused entry pointed

    static int visit(dl_phdr_info *info, size_t, void *arg) {
        auto *pass = static_cast<PatchPass *>(arg);
        if (pass->mode == Mode::Generation) {
            pass->generation = info->dlpi_adds + info->dlpi_subs;
            return 1;
        }
        return pass->one(info);
    }

    bool skipped(const char *name) const {
        const char *base = base_name(name);
        if (std::strncmp(base, "linux-vdso", 10) == 0 || std::strncmp(base, "linux-gate", 10) == 0 ||
            std::strncmp(base, "ld-linux", 8) == 0)
            return true;
        for (const std::string &s : self->skip_)
            if (std::strncmp(base, s.c_str(), s.size()) == 0) return true;
        return false;
    }

    Patcher::Module *known(const dl_phdr_info *info) {
        for (Patcher::Module &m : self->modules_)
            if (m.base == info->dlpi_addr && m.name == info->dlpi_name) return &m;
        return nullptr;
    }

    int one(dl_phdr_info *info) {
        const char *name = info->dlpi_name ? info->dlpi_name : "";
        if (skipped(name)) return 0;
        switch (mode) {
        case Mode::Collect: {
            if (Patcher::Module *m = known(info)) {
                m->present = true;
                return 0;
            }
            // Entries are read in the write pass, once the module is surely relocated.
            pending.push_back(Patcher::Module{info->dlpi_addr, name, {}, true});
            return 0;
        }
        case Mode::Write: {
            if (Patcher::Module *m = known(info)) { // patched before: repair raced lazy bindings
                for (const Patcher::Slot &s : m->slots) {
                    const Redirect &r = self->redirects_[s.redirect];
                    if (load(s.address) == reinterpret_cast<uintptr_t>(r.real) &&
                        store(info, s.address, reinterpret_cast<uintptr_t>(r.hook)) && stats)
                        ++stats->repaired;
                }
                return 0;
            }
            for (Patcher::Module &m : pending) {
                if (m.base != info->dlpi_addr || m.name != name) continue;
                if (!collect(info, m)) {
                    if (strict) return 1; // error set: stop the walk
                    error.clear();        // a module loaded later: left alone
                    if (stats) ++stats->refused;
                    break;
                }
                if (m.slots.empty()) break;
                std::vector<Patcher::Slot> written;
                for (const Patcher::Slot &s : m.slots)
                    if (store(info, s.address, reinterpret_cast<uintptr_t>(self->redirects_[s.redirect].hook)))
                        written.push_back(s);
                if (stats && !written.empty()) {
                    ++stats->modules;
                    stats->entries += written.size();
                }
                m.slots = std::move(written);
                self->modules_.push_back(std::move(m));
                break;
            }
            return 0;
        }
        case Mode::Restore: {
            Patcher::Module *m = known(info);
            if (!m) return 0;
            for (const Patcher::Slot &s : m->slots)
                if (load(s.address) == reinterpret_cast<uintptr_t>(self->redirects_[s.redirect].hook))
                    store(info, s.address, s.original);
            m->slots.clear();
            return 0;
        }
        case Mode::Generation: break;
        }
        return 0;
    }

    // The module's entries bound to one of the redirected names. False (with error) when a
    // must_match entry is bound to another definition.
    bool collect(const dl_phdr_info *info, Patcher::Module &m) {
        const ElfW(Dyn) *dyn = nullptr;
        for (int i = 0; i < info->dlpi_phnum; ++i)
            if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
                dyn = reinterpret_cast<const ElfW(Dyn) *>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        if (!dyn) return true;
        const ElfW(Sym) *symtab = nullptr;
        const char *strtab = nullptr;
        size_t strsz = 0;
        const ElfW(Rela) *rela = nullptr, *jmprel = nullptr;
        size_t relasz = 0, pltrelsz = 0;
        bool plt_is_rela = true;
        for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; ++d) {
            switch (d->d_tag) {
            case DT_SYMTAB: symtab = reinterpret_cast<const ElfW(Sym) *>(dyn_ptr(info, d->d_un.d_ptr)); break;
            case DT_STRTAB: strtab = reinterpret_cast<const char *>(dyn_ptr(info, d->d_un.d_ptr)); break;
            case DT_STRSZ: strsz = d->d_un.d_val; break;
            case DT_RELA: rela = reinterpret_cast<const ElfW(Rela) *>(dyn_ptr(info, d->d_un.d_ptr)); break;
            case DT_RELASZ: relasz = d->d_un.d_val; break;
            case DT_JMPREL: jmprel = reinterpret_cast<const ElfW(Rela) *>(dyn_ptr(info, d->d_un.d_ptr)); break;
            case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
            case DT_PLTREL: plt_is_rela = d->d_un.d_val == DT_RELA; break;
            default: break;
            }
        }
        if (!symtab || !strtab) return true;
        uintptr_t lo, hi;
        object_span(info, &lo, &hi);
        auto scan = [&](const ElfW(Rela) *r, size_t bytes) {
            if (!r) return true;
            for (size_t i = 0; i < bytes / sizeof(ElfW(Rela)); ++i) {
                const uint32_t type = ELF64_R_TYPE(r[i].r_info);
                if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
                const uint32_t sym = ELF64_R_SYM(r[i].r_info);
                if (!sym || symtab[sym].st_name >= strsz) continue;
                const char *sname = strtab + symtab[sym].st_name;
                for (uint32_t k = 0; k < self->redirects_.size(); ++k) {
                    const Redirect &rd = self->redirects_[k];
                    if (std::strcmp(sname, rd.name) != 0) continue;
                    const uintptr_t address = info->dlpi_addr + r[i].r_offset;
                    const uintptr_t now = load(address);
                    const uintptr_t real = reinterpret_cast<uintptr_t>(rd.real);
                    const bool stub = type == R_X86_64_JUMP_SLOT && now >= lo && now < hi;
                    if (rd.canonical && now == reinterpret_cast<uintptr_t>(rd.canonical)) {
                        // through the executable's PLT: redirected there
                    } else if (now == reinterpret_cast<uintptr_t>(rd.hook)) {
                        m.slots.push_back({address, real, k}); // left over from an earlier attach
                    } else if (now == real || stub) {
                        m.slots.push_back({address, now, k});
                    } else if (rd.must_match && now != 0) {
                        // Not dladdr here: it takes the loader's lock, and a dlopen holding that
                        // one waits for the lock this walk holds. Named after the walk.
                        error = std::string(*m.name.c_str() ? base_name(m.name.c_str()) : "the executable") +
                                " calls " + rd.name + " in ";
                        bad_target = now;
                        return false;
                    } else if (stats) {
                        ++stats->kept;
                    }
                    break;
                }
            }
            return true;
        };
        if (!scan(rela, relasz)) return false;
        return !plt_is_rela || scan(jmprel, pltrelsz);
    }
};

Patcher::Patcher(std::vector<Redirect> redirects, std::vector<std::string> skip)
    : redirects_(std::move(redirects)), skip_(std::move(skip)) {}

bool Patcher::patch(PatchStats *stats, std::string *error, bool strict) {
    PatchPass collect{this, PatchPass::Mode::Collect, {}, {}, stats};
    for (Module &m : modules_) m.present = false;
    dl_iterate_phdr(PatchPass::visit, &collect);
    if (!collect.error.empty()) {
        if (error) *error = collect.error;
        return false;
    }
    // Modules gone since the last pass: forget them (their addresses may be reused).
    for (size_t i = 0; i < modules_.size();) {
        if (!modules_[i].present) modules_.erase(modules_.begin() + long(i));
        else ++i;
    }
    // The loader lists an object before it has relocated it (and made its RELRO read-only):
    // patched then, the loader would overwrite the entries, or fault on a page left read-only.
    // dlopen takes the loader's lock even with RTLD_NOLOAD, so it returns once any load in
    // progress is complete (relocation precedes constructors, so a nested load is done too).
    for (size_t i = 0; i < collect.pending.size();) {
        const std::string &name = collect.pending[i].name;
        void *h = name.empty() ? nullptr : dlopen(name.c_str(), RTLD_LAZY | RTLD_NOLOAD);
        if (h) dlclose(h);
        if (name.empty() || h) ++i;
        else collect.pending.erase(collect.pending.begin() + long(i)); // gone, or failed to load
    }
    PatchPass write{this, PatchPass::Mode::Write, std::move(collect.pending), {}, stats};
    write.strict = strict;
    dl_iterate_phdr(PatchPass::visit, &write);
    if (!write.error.empty()) {
        Dl_info where{};
        const bool named = dladdr(reinterpret_cast<void *>(write.bad_target), &where) && where.dli_fname;
        if (error)
            *error = write.error + (named ? base_name(where.dli_fname) : "unknown code") +
                     ", not in glibc: the process runs another allocator";
        return false;
    }
    return true;
}

void Patcher::restore() {
    PatchPass pass{this, PatchPass::Mode::Restore, {}, {}, nullptr};
    dl_iterate_phdr(PatchPass::visit, &pass);
    modules_.clear();
}

uint64_t Patcher::load_generation() {
    PatchPass pass{nullptr, PatchPass::Mode::Generation, {}, {}, nullptr};
    dl_iterate_phdr(PatchPass::visit, &pass);
    return pass.generation;
}

size_t Patcher::patched_entries() const {
    size_t n = 0;
    for (const Module &m : modules_) n += m.slots.size();
    return n;
}

} // namespace nm::got

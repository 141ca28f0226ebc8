// elf_symbols.cpp - dynamic symbol look-up in an on-disk ELF object and its load bias in a process.
#include "elf_symbols.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace nm::inject {
namespace {

// Owns the descriptor and the Elf handle together.
class ElfFile {
public:
    explicit ElfFile(const std::string &path) {
        elf_version(EV_CURRENT);
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) {
            error_ = path + ": " + std::strerror(errno);
            return;
        }
        elf_ = elf_begin(fd_, ELF_C_READ_MMAP, nullptr);
        if (!elf_ || elf_kind(elf_) != ELF_K_ELF) error_ = path + ": not an ELF file";
    }
    ~ElfFile() {
        if (elf_) elf_end(elf_);
        if (fd_ >= 0) ::close(fd_);
    }
    ElfFile(const ElfFile &) = delete;
    ElfFile &operator=(const ElfFile &) = delete;
    Elf *get() const { return error_.empty() ? elf_ : nullptr; }
    const std::string &error() const { return error_; }

private:
    int fd_ = -1;
    Elf *elf_ = nullptr;
    std::string error_;
};

// Load bias = where the object's offset-0 page is mapped - the page-aligned vaddr of the PT_LOAD
// segment that maps file offset 0. For shared objects that vaddr is almost always 0.
bool load_bias(Elf *elf, uint64_t map_start, uint64_t *bias, std::string *error) {
    size_t n = 0;
    if (elf_getphdrnum(elf, &n) != 0) {
        *error = std::string("no program headers: ") + elf_errmsg(-1);
        return false;
    }
    for (size_t i = 0; i < n; ++i) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, int(i), &ph) || ph.p_type != PT_LOAD) continue;
        const uint64_t page = 4096;
        *bias = map_start - ((ph.p_vaddr - (ph.p_offset % page)) & ~(page - 1));
        return true;
    }
    *error = "no PT_LOAD segment";
    return false;
}

} // namespace

std::string mapped_file_path(pid_t pid, const Mapping &m) {
    static const std::string deleted = " (deleted)";
    if (m.path.size() > deleted.size() && m.path.compare(m.path.size() - deleted.size(), deleted.size(), deleted) == 0) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, int(pid), m.start, m.end);
        return buf;
    }
    const std::string rooted = "/proc/" + std::to_string(pid) + "/root" + m.path;
    return ::access(rooted.c_str(), R_OK) == 0 ? rooted : m.path;
}

bool resolve_symbol(pid_t pid, const Mapping &object, const std::string &name, uint64_t *address,
                    std::string *error) {
    const std::string path = mapped_file_path(pid, object);
    ElfFile file(path);
    Elf *elf = file.get();
    if (!elf) {
        *error = file.error();
        return false;
    }
    Elf_Scn *dynsym = nullptr, *versym = nullptr;
    GElf_Shdr dynsym_hdr{};
    for (Elf_Scn *scn = nullptr; (scn = elf_nextscn(elf, scn));) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh)) continue;
        if (sh.sh_type == SHT_DYNSYM) {
            dynsym = scn;
            dynsym_hdr = sh;
        } else if (sh.sh_type == SHT_GNU_versym) {
            versym = scn;
        }
    }
    if (!dynsym || dynsym_hdr.sh_entsize == 0) {
        *error = path + ": no dynamic symbol table";
        return false;
    }
    Elf_Data *syms = elf_getdata(dynsym, nullptr);
    Elf_Data *vers = versym ? elf_getdata(versym, nullptr) : nullptr;
    const size_t count = dynsym_hdr.sh_size / dynsym_hdr.sh_entsize;
    bool found = false, found_default = false;
    GElf_Sym best{};
    for (size_t i = 0; syms && i < count; ++i) {
        GElf_Sym sym;
        if (!gelf_getsym(syms, int(i), &sym) || sym.st_shndx == SHN_UNDEF) continue;
        const char *n = elf_strptr(elf, dynsym_hdr.sh_link, sym.st_name);
        if (!n || name != n) continue;
        // Bit 15 of the version index marks a hidden (non-default) version: dlopen@GLIBC_2.2.5
        // next to the default dlopen@@GLIBC_2.34. Either works today; the default is the contract.
        GElf_Versym v = 0;
        const bool hidden = vers && gelf_getversym(vers, int(i), &v) && (v & 0x8000);
        if (found_default || (found && hidden)) continue;
        best = sym;
        found = true;
        found_default = !hidden;
    }
    if (!found) {
        *error = path + " has no symbol '" + name + "'";
        return false;
    }
    if (GELF_ST_TYPE(best.st_info) == STT_GNU_IFUNC) {
        *error = "'" + name + "' in " + path + " is an IFUNC; cannot call it directly";
        return false;
    }
    uint64_t bias = 0;
    if (!load_bias(elf, object.start, &bias, error)) {
        *error = path + ": " + *error;
        return false;
    }
    *address = bias + best.st_value;
    return true;
}

bool is_x86_64_elf(const std::string &path, std::string *what) {
    ElfFile file(path);
    Elf *elf = file.get();
    if (!elf) {
        *what = file.error();
        return false;
    }
    GElf_Ehdr eh;
    if (!gelf_getehdr(elf, &eh)) {
        *what = "unreadable ELF header";
        return false;
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
        *what = "a 32-bit program";
        return false;
    }
    if (eh.e_machine != EM_X86_64) {
        *what = "a program for machine type " + std::to_string(eh.e_machine);
        return false;
    }
    return true;
}

bool elf_program_kind(const std::string &path, bool *has_interp, bool *has_dynamic, std::string *error) {
    ElfFile file(path);
    Elf *elf = file.get();
    if (!elf) {
        *error = file.error();
        return false;
    }
    size_t n = 0;
    if (elf_getphdrnum(elf, &n) != 0) {
        *error = path + ": no program headers";
        return false;
    }
    *has_interp = *has_dynamic = false;
    for (size_t i = 0; i < n; ++i) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, int(i), &ph)) continue;
        *has_interp |= ph.p_type == PT_INTERP;
        *has_dynamic |= ph.p_type == PT_DYNAMIC;
    }
    return true;
}

} // namespace nm::inject

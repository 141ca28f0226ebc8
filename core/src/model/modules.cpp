// modules.cpp - lists this process's loaded objects with dl_iterate_phdr and reads their build ids.
#include "model/modules.hpp"

#include <nmleak/sys.hpp>

#include <elf.h>
#include <limits.h>
#include <link.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace nm {
namespace {

std::string to_hex(const unsigned char *bytes, size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        s.push_back(digits[bytes[i] >> 4]);
        s.push_back(digits[bytes[i] & 0xf]);
    }
    return s;
}

std::string self_exe_path() { return sys::proc_exe(0); }

// Walks the notes of one PT_NOTE segment (already mapped: the loader maps PT_NOTE inside a PT_LOAD)
// looking for the GNU build id. Note entries pad name and descriptor to the segment's alignment
// (4, or 8 for the GNU property notes some toolchains emit).
std::string build_id_in_notes(const unsigned char *p, size_t size, size_t align) {
    if (align != 8) align = 4;
    auto pad = [align](size_t n) { return (n + align - 1) & ~(align - 1); };
    size_t off = 0;
    while (off + sizeof(ElfW(Nhdr)) <= size) {
        ElfW(Nhdr) nh;
        std::memcpy(&nh, p + off, sizeof nh);
        size_t name_off = off + sizeof nh;
        size_t desc_off = name_off + pad(nh.n_namesz);
        size_t next = desc_off + pad(nh.n_descsz);
        if (desc_off > size || nh.n_descsz > size - desc_off || next <= off) break;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            std::memcmp(p + name_off, "GNU", 4) == 0 && nh.n_descsz > 0)
            return to_hex(p + desc_off, nh.n_descsz);
        off = next;
    }
    return {};
}

struct WalkState {
    std::vector<model::Module> *out;
    uint64_t vdso_ehdr;
    uint64_t page_size;
    bool first;
};

int on_object(struct dl_phdr_info *info, size_t, void *data) {
    auto *st = static_cast<WalkState *>(data);
    uint64_t lo = UINT64_MAX, hi = 0;
    std::string build_id;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD) {
            uint64_t start = info->dlpi_addr + ph.p_vaddr;
            uint64_t end = start + ph.p_memsz;
            if (start < lo) lo = start;
            if (end > hi) hi = end;
        } else if (ph.p_type == PT_NOTE && build_id.empty()) {
            build_id = build_id_in_notes(
                reinterpret_cast<const unsigned char *>(info->dlpi_addr + ph.p_vaddr), ph.p_memsz,
                ph.p_align);
        }
    }
    bool first = st->first;
    st->first = false;
    if (lo >= hi) return 0; // no loadable segment: nothing mapped to attribute addresses to

    model::Module m;
    m.base = lo & ~(st->page_size - 1);
    m.size = hi - m.base;
    m.build_id = std::move(build_id);
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    bool is_vdso = (st->vdso_ehdr != 0 && st->vdso_ehdr >= m.base && st->vdso_ehdr < hi) ||
                   std::strncmp(name, "linux-vdso", 10) == 0;
    if (is_vdso)
        m.path = "[vdso]";
    else if (first && name[0] == '\0')
        m.path = self_exe_path();
    else
        m.path = name;
    st->out->push_back(std::move(m));
    return 0;
}

int count_generation(struct dl_phdr_info *info, size_t size, void *data) {
    // dlpi_adds/dlpi_subs are the same in every entry; read them from the first and stop.
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
        *static_cast<uint64_t *>(data) = info->dlpi_adds * 0x9E3779B97F4A7C15ull + info->dlpi_subs;
    return 1;
}

} // namespace

std::vector<model::Module> list_modules() {
    std::vector<model::Module> out;
    WalkState st{&out, getauxval(AT_SYSINFO_EHDR), static_cast<uint64_t>(sysconf(_SC_PAGESIZE)),
                 true};
    dl_iterate_phdr(on_object, &st);
    return out;
}

const model::Module *find_module(const std::vector<model::Module> &modules, uint64_t address) {
    for (const auto &m : modules)
        if (address >= m.base && address - m.base < m.size) return &m;
    return nullptr;
}

uint64_t module_generation() {
    uint64_t gen = 0;
    dl_iterate_phdr(count_generation, &gen);
    return gen;
}

} // namespace nm

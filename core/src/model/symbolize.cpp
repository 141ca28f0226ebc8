// symbolize.cpp - nm::Symbolizer: addresses to function/file/line with elfutils libdwfl, cached.
#include "model/symbolize.hpp"

#include <nmleak/sys.hpp>

#include "model/modules.hpp"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace nm {
namespace {

// Separate debug info: local lookups always (build-id tree and .gnu_debuglink in /usr/lib/debug).
// dwfl_standard_find_debuginfo would also ask debuginfod servers when DEBUGINFOD_URLS is set
// (Debian's profile.d sets it on some systems), which can stall a report for minutes inside the
// analyzer; that is opt-in with NMLEAK_DEBUGINFOD=1.
bool standard_lookup_allowed() {
    static const bool allowed = [] {
        const char *urls = std::getenv("DEBUGINFOD_URLS");
        const char *opt_in = std::getenv("NMLEAK_DEBUGINFOD");
        return urls == nullptr || urls[0] == '\0' || (opt_in && std::strcmp(opt_in, "1") == 0);
    }();
    return allowed;
}

int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base,
                   const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                   char **debuginfo_file_name) {
    if (standard_lookup_allowed())
        return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
                                            debuglink_crc, debuginfo_file_name);
    return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
                                        debuglink_crc, debuginfo_file_name);
}

char *g_debuginfo_path = nullptr; // default search path

const Dwfl_Callbacks kCallbacks = {
    dwfl_linux_proc_find_elf,
    find_debuginfo,
    dwfl_offline_section_address,
    &g_debuginfo_path,
};

// "__libc_start_main@@GLIBC_2.34" -> "__libc_start_main" (symbol table names carry versions).
std::string strip_symbol_version(const char *name) {
    const char *at = std::strchr(name, '@');
    return at != nullptr && at != name ? std::string(name, at) : std::string(name);
}

const char *die_linkage_name(Dwarf_Die *die) {
    Dwarf_Attribute attr;
    for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
        if (dwarf_attr_integrate(die, at, &attr) != nullptr) {
            if (const char *s = dwarf_formstring(&attr)) return s;
        }
    }
    return nullptr;
}

// The innermost function scope at `pc` from DWARF: {name, inlined?}. Inlined code gets the inlined
// function's name so that it agrees with the line table, which describes the inlined source.
std::pair<std::string, bool> dwarf_function(Dwarf_Die *cu, Dwarf_Addr bias, Dwarf_Addr pc) {
    if (cu == nullptr) return {};
    Dwarf_Die *scopes = nullptr;
    int n = dwarf_getscopes(cu, pc - bias, &scopes);
    std::pair<std::string, bool> out;
    for (int i = 0; i < n; ++i) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine) continue;
        const char *name = die_linkage_name(&scopes[i]);
        if (name == nullptr) name = dwarf_diename(&scopes[i]);
        if (name != nullptr) out = {sys::demangle_symbol(name), tag == DW_TAG_inlined_subroutine};
        break;
    }
    std::free(scopes);
    return out;
}

} // namespace

struct Symbolizer::Impl {
    pid_t pid;
    Dwfl *dwfl = nullptr;
    bool ok = false;
    uint64_t generation = 0;    // module_generation() at the last report (own process)
    bool reported_this_call = false; // another process: re-read its maps at most once per call
    std::unordered_map<uint64_t, model::Frame> cache[2]; // by AddressKind
    mutable std::mutex mu;

    explicit Impl(pid_t p) : pid(p) {
        dwfl = dwfl_begin(&kCallbacks);
        if (dwfl != nullptr) ok = report();
    }
    ~Impl() {
        if (dwfl != nullptr) dwfl_end(dwfl);
    }

    bool self() const { return pid == getpid(); }

    // (Re)reads the mappings. Modules already known keep their loaded ELF/DWARF.
    bool report() {
        if (self()) generation = module_generation();
        dwfl_report_begin(dwfl);
        int rc = dwfl_linux_proc_report(dwfl, pid);
        dwfl_report_end(dwfl, nullptr, nullptr);
        return rc == 0;
    }

    // At the start of each public call: objects loaded or unloaded in our own process since the last
    // report are seen here (dlopen can place an object right above another one, where libdwfl's
    // lookup would otherwise still answer with the old neighbour).
    void begin_call() {
        reported_this_call = false;
        if (dwfl != nullptr && self() && module_generation() != generation) {
            cache[0].clear(); // after a dlclose, cached frames could name the wrong module
            cache[1].clear();
            ok = report() || ok;
        }
    }

    // An address in no known module of another process: it may have loaded objects since; re-read
    // its maps at most once per call.
    bool refresh_other() {
        if (self() || reported_this_call) return false;
        reported_this_call = true;
        ok = report() || ok;
        return true;
    }

    // The module that really spans `pc` (libdwfl's address lookup may answer with the module below
    // an address that lies in a gap).
    Dwfl_Module *module_at(Dwarf_Addr pc, Dwarf_Addr *start) {
        Dwfl_Module *mod = dwfl_addrmodule(dwfl, pc);
        Dwarf_Addr lo = 0, hi = 0;
        if (mod == nullptr ||
            dwfl_module_info(mod, nullptr, &lo, &hi, nullptr, nullptr, nullptr, nullptr) == nullptr ||
            pc < lo || pc >= hi)
            return nullptr;
        *start = lo;
        return mod;
    }

    model::Frame lookup(uint64_t address, AddressKind kind) {
        auto &c = cache[kind == AddressKind::Return ? 0 : 1];
        if (auto it = c.find(address); it != c.end()) return it->second;
        model::Frame f = symbolize(address, kind);
        c.emplace(address, f);
        return f;
    }

    model::Frame symbolize(uint64_t address, AddressKind kind) {
        model::Frame f;
        f.address = address;
        if (dwfl == nullptr || address == 0) return f;
        Dwarf_Addr pc = (kind == AddressKind::Return) ? address - 1 : address;

        Dwarf_Addr start = 0;
        Dwfl_Module *mod = module_at(pc, &start);
        if (mod == nullptr && refresh_other()) mod = module_at(pc, &start);
        if (mod == nullptr) return f;

        if (const char *name = dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr,
                                                nullptr, nullptr))
            f.module = name;
        f.module_offset = address - start;

        // The CU whose address ranges hold pc. libdwfl answers with the CU of the nearest range
        // below pc even past that range's end (code without DWARF, such as _start right after
        // main, got main's CU and last line), so check the CU really covers pc.
        Dwarf_Addr bias = 0;
        Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias);
        if (cu != nullptr && dwarf_haspc(cu, pc - bias) != 1) cu = nullptr;
        auto [dwarf_name, inlined] = dwarf_function(cu, bias, pc);
        if (inlined) {
            f.function = std::move(dwarf_name);
        } else {
            GElf_Off off = 0;
            GElf_Sym sym;
            const char *sname =
                dwfl_module_addrinfo(mod, pc, &off, &sym, nullptr, nullptr, nullptr);
            if (sname != nullptr && sname[0] != '\0')
                f.function = sys::demangle_symbol(strip_symbol_version(sname).c_str());
            else
                f.function = std::move(dwarf_name);
        }

        Dwfl_Line *line = cu != nullptr ? dwfl_module_getsrc(mod, pc) : nullptr;
        if (line != nullptr && dwfl_linecu(line) != nullptr &&
            dwarf_dieoffset(dwfl_linecu(line)) == dwarf_dieoffset(cu)) {
            int lineno = 0;
            if (const char *file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
                f.file = file;
                f.line = lineno > 0 ? static_cast<uint32_t>(lineno) : 0;
            }
        }
        return f;
    }
};

Symbolizer::Symbolizer(pid_t pid) : d_(std::make_unique<Impl>(pid)) {}
Symbolizer::~Symbolizer() = default;
Symbolizer::Symbolizer(Symbolizer &&) noexcept = default;
Symbolizer &Symbolizer::operator=(Symbolizer &&) noexcept = default;

bool Symbolizer::ok() const {
    std::lock_guard lock(d_->mu);
    return d_->ok;
}

pid_t Symbolizer::pid() const { return d_->pid; }

model::Frame Symbolizer::resolve(uint64_t address, AddressKind kind) {
    std::lock_guard lock(d_->mu);
    d_->begin_call();
    return d_->lookup(address, kind);
}

std::vector<model::Frame> Symbolizer::resolve(const std::vector<uint64_t> &addresses,
                                              AddressKind kind) {
    std::lock_guard lock(d_->mu);
    d_->begin_call();
    std::vector<model::Frame> out;
    out.reserve(addresses.size());
    for (uint64_t a : addresses) out.push_back(d_->lookup(a, kind));
    return out;
}

size_t Symbolizer::cached() const {
    std::lock_guard lock(d_->mu);
    return d_->cache[0].size() + d_->cache[1].size();
}

} // namespace nm

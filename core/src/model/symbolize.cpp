// symbolize.cpp - nm::Symbolizer: addresses to function/file/line with elfutils libdwfl, cached.
#include "model/symbolize.hpp"

#include <nmleak/sys.hpp>

#include "model/modules.hpp"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

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

// The symbolizer whose call is running on this thread (calls hold its mutex), so the callbacks
// below can count what they load for it.
thread_local size_t *t_loads = nullptr;

// libdwfl asks for a module's ELF once, the first time an address in it needs symbols; its symbol
// table and DWARF hang off that ELF for as long as the module stays in the Dwfl.
int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
             char **file_name, Elf **elfp) {
    if (t_loads != nullptr) ++*t_loads;
    return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
}

const Dwfl_Callbacks kCallbacks = {
    find_elf,
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
    // A module libdwfl knows, with the range it spans. Modules are libdwfl's (keyed by path and
    // address range): one loaded stays loaded while the Dwfl lives.
    struct Span {
        Dwfl_Module *mod;
        Dwarf_Addr lo, hi;
    };

    pid_t pid;
    Dwfl *dwfl = nullptr;
    bool ok = false;
    uint64_t generation = 0;    // module_generation() at the last report (own process)
    bool reported_this_call = false; // another process: re-read its maps at most once per call
    std::unordered_map<uint64_t, model::Frame> cache[2]; // by AddressKind
    std::vector<Span> mapped;   // modules of the last report
    std::vector<Span> unloaded; // modules gone from the maps since, kept for their frames
    std::unordered_set<Dwfl_Module *> release; // unloaded modules to let go at the next report
    size_t loads = 0;           // modules whose ELF (and with it symbols and DWARF) was opened
    mutable std::mutex mu;

    explicit Impl(pid_t p) : pid(p) {
        dwfl = dwfl_begin(&kCallbacks);
        if (dwfl != nullptr) ok = report();
    }
    ~Impl() {
        if (dwfl != nullptr) dwfl_end(dwfl);
    }

    bool self() const { return pid == getpid(); }

    // libdwfl drops a module the maps no longer show at the end of a report, with its ELF and
    // DWARF; a module that was unloaded (dlclose) while blocks or records still hold its addresses
    // is reported again instead, so it stays, and is looked up after the mapped ones.
    static int keep_unloaded(Dwfl_Module *mod, void *, const char *name, Dwarf_Addr, void *arg) {
        auto *self = static_cast<Impl *>(arg);
        if (self->release.count(mod) != 0) return 0;
        Dwarf_Addr lo = 0, hi = 0;
        if (dwfl_module_info(mod, nullptr, &lo, &hi, nullptr, nullptr, nullptr, nullptr) == nullptr)
            return 0;
        if (Dwfl_Module *kept = dwfl_report_module(self->dwfl, name, lo, hi))
            self->unloaded.push_back({kept, lo, hi});
        return 0;
    }

    static int collect(Dwfl_Module *mod, void **, const char *, Dwarf_Addr, void *arg) {
        auto *self = static_cast<Impl *>(arg);
        Dwarf_Addr lo = 0, hi = 0;
        if (dwfl_module_info(mod, nullptr, &lo, &hi, nullptr, nullptr, nullptr, nullptr) == nullptr)
            return DWARF_CB_OK;
        for (const Span &u : self->unloaded)
            if (u.mod == mod) return DWARF_CB_OK;
        self->mapped.push_back({mod, lo, hi});
        return DWARF_CB_OK;
    }

    // (Re)reads the mappings. Modules already known keep their loaded ELF/DWARF; modules unmapped
    // since are kept as unloaded ones (until release_unreferenced lets them go).
    bool report() {
        if (self()) generation = module_generation();
        unloaded.clear();
        mapped.clear();
        dwfl_report_begin(dwfl);
        int rc = self() ? report_self() : dwfl_linux_proc_report(dwfl, pid);
        dwfl_report_end(dwfl, keep_unloaded, this);
        release.clear();
        dwfl_getmodules(dwfl, collect, this, 0);
        return rc == 0;
    }

    // This process's objects as its dynamic loader lists them, named as /proc/self/maps names their
    // files. Reading the maps alone (dwfl_linux_proc_report) would also see libelf's own mappings
    // of the files it reads debug info from, merge them into the object's module (a new, wider
    // module that loads everything again), and never settle.
    int report_self() {
        const std::vector<model::Module> mods = list_modules();
        std::string maps;
        std::vector<std::pair<uint64_t, std::string>> file_at; // start of a file mapping, its path
        if (sys::read_proc(0, "maps", &maps, size_t(256) << 20)) {
            size_t at = 0;
            while (at < maps.size()) {
                size_t end = maps.find('\n', at);
                if (end == std::string::npos) end = maps.size();
                const std::string line = maps.substr(at, end - at);
                at = end + 1;
                const size_t slash = line.find(" /");
                if (slash == std::string::npos) continue;
                file_at.emplace_back(std::strtoull(line.c_str(), nullptr, 16), line.substr(slash + 1));
            }
        }
        const std::string vdso = "[vdso: " + std::to_string(getpid()) + "]"; // libdwfl reads it from memory
        for (const model::Module &m : mods) {
            std::string name = m.path == "[vdso]" ? vdso : m.path;
            for (const auto &[start, path] : file_at)
                if (start == m.base) {
                    name = path;
                    break;
                }
            if (name.empty()) continue;
            if (dwfl_report_module(dwfl, name.c_str(), m.base, m.base + m.size) == nullptr) return -1;
        }
        return mods.empty() ? -1 : 0;
    }

    // At the start of each public call: objects loaded or unloaded in our own process since the last
    // report are seen here (dlopen can place an object right above another one, where libdwfl's
    // lookup would otherwise still answer with the old neighbour).
    void begin_call() {
        reported_this_call = false;
        if (dwfl != nullptr && self() && module_generation() != generation) {
            const std::vector<Span> before = mapped;
            ok = report() || ok;
            forget_new_ranges(before);
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

    // Drops the cached frames that a report may have changed: those in a module that is newly
    // mapped (a new object, possibly over the range of an unloaded one), and those that no module
    // spanned. Frames of modules still mapped, or unloaded and kept, stay valid.
    void forget_new_ranges(const std::vector<Span> &before) {
        std::vector<Span> fresh;
        for (const Span &m : mapped) {
            bool known = false;
            for (const Span &b : before) known |= b.mod == m.mod;
            if (!known) fresh.push_back(m);
        }
        forget(fresh, true);
    }

    // Drops the cached frames whose lookup address lies in one of `spans` (and, with `unresolved`,
    // those that named no module).
    void forget(const std::vector<Span> &spans, bool unresolved) {
        for (int k = 0; k < 2; ++k) {
            const uint64_t back = k == 0 ? 1 : 0; // Return addresses are looked up one byte earlier
            for (auto it = cache[k].begin(); it != cache[k].end();) {
                const Dwarf_Addr pc = it->first - back;
                bool drop = unresolved && it->second.module.empty();
                for (const Span &s : spans) drop |= pc >= s.lo && pc < s.hi;
                it = drop ? cache[k].erase(it) : std::next(it);
            }
        }
    }

    // A few dozen modules at most: a scan, done once per address the cache misses.
    static const Span *span_at(const std::vector<Span> &spans, Dwarf_Addr pc) {
        for (const Span &s : spans)
            if (pc >= s.lo && pc < s.hi) return &s;
        return nullptr;
    }

    // The module that spans `pc`: a mapped one first, else one unloaded since it was seen.
    Dwfl_Module *module_at(Dwarf_Addr pc, Dwarf_Addr *start) {
        const Span *s = span_at(mapped, pc);
        if (s == nullptr) s = span_at(unloaded, pc);
        if (s == nullptr) return nullptr;
        *start = s->lo;
        return s->mod;
    }

    // Lets go of the unloaded modules that no address of `addresses` lies in.
    size_t release_unreferenced(const std::vector<uint64_t> &addresses) {
        if (unloaded.empty()) return 0;
        std::vector<bool> used(unloaded.size(), false);
        for (uint64_t a : addresses) {
            if (a == 0) continue;
            for (Dwarf_Addr pc : {Dwarf_Addr(a), Dwarf_Addr(a - 1)})
                if (const Span *s = span_at(unloaded, pc)) used[size_t(s - unloaded.data())] = true;
        }
        for (size_t i = 0; i < unloaded.size(); ++i)
            if (!used[i]) release.insert(unloaded[i].mod);
        const size_t n = release.size();
        if (n == 0) return 0;
        std::vector<Span> gone;
        for (const Span &u : unloaded)
            if (release.count(u.mod) != 0) gone.push_back(u);
        ok = report() || ok;
        forget(gone, false);
        return n;
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

namespace {
// Points the load counter of the callbacks at one symbolizer for the length of a call.
struct CountLoads {
    explicit CountLoads(size_t *n) : prev(t_loads) { t_loads = n; }
    ~CountLoads() { t_loads = prev; }
    size_t *prev;
};
} // namespace

model::Frame Symbolizer::resolve(uint64_t address, AddressKind kind) {
    std::lock_guard lock(d_->mu);
    CountLoads count(&d_->loads);
    d_->begin_call();
    return d_->lookup(address, kind);
}

std::vector<model::Frame> Symbolizer::resolve(const std::vector<uint64_t> &addresses,
                                              AddressKind kind) {
    std::lock_guard lock(d_->mu);
    CountLoads count(&d_->loads);
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

size_t Symbolizer::modules_loaded() const {
    std::lock_guard lock(d_->mu);
    return d_->loads;
}

size_t Symbolizer::modules_unloaded() const {
    std::lock_guard lock(d_->mu);
    return d_->unloaded.size();
}

size_t Symbolizer::release_unreferenced(const std::vector<uint64_t> &addresses) {
    std::lock_guard lock(d_->mu);
    CountLoads count(&d_->loads);
    return d_->release_unreferenced(addresses);
}

Symbolizer &process_symbolizer() {
    // Never destroyed: the exit report may symbolize from an atexit handler or a destructor that
    // runs after static destructors. Reachable from this pointer, so no leak checker reports it.
    static Symbolizer *const sym = new Symbolizer();
    return *sym;
}

} // namespace nm

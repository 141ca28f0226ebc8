// expert_module.cpp - dlopen()s an expert, checks its entry points and calls Register, guarded.
#include "host/expert_module.hpp"

#include <nmleak/tracker.hpp>
#include <nmleak/sys.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <typeinfo>


namespace nm::host {
namespace {

// The symbol, only if the expert itself defines it: dlsym on a handle also searches the object's
// dependencies, and an entry point found in one of those is not the expert's.
void *own_symbol(void *handle, const char *name) {
    void *sym = dlsym(handle, name);
    if (!sym) return nullptr;
    link_map *lm = nullptr;
    Dl_info info{};
    if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !dladdr(sym, &info) || !info.dli_fname)
        return sym;
    return std::strcmp(info.dli_fname, lm->l_name) == 0 ? sym : nullptr;
}

struct RegisterCall {
    Guard *guard = nullptr;
    PEXPERTREGISTERPROC fn = nullptr;
    EXPERTENUMINFO *info = nullptr;
    BOOL result = FALSE;
    bool threw = false;
    std::string exception;
};

// The boundary frame between the runner and the expert (see Guard::boundary_fp).
__attribute__((noinline)) void call_register(void *arg) {
    auto *c = static_cast<RegisterCall *>(arg);
    c->guard->boundary_fp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    try {
        c->result = c->fn(c->info);
    } catch (...) {
        c->threw = true;
        c->exception = describe_current_exception();
    }
}

std::string basename_of(const std::string &path) {
    size_t slash = path.rfind('/');
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    size_t dot = base.find('.');
    return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

void copy_cstr(char *dst, size_t cap, const std::string &s) {
    size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
    std::memcpy(dst, s.data(), n);
    dst[n] = '\0';
}

} // namespace

std::string describe_current_exception() {
    try {
        throw;
    } catch (const std::exception &e) {
        return sys::demangle_type(typeid(e).name()) + ": " + e.what();
    } catch (...) {
        const std::type_info *t = abi::__cxa_current_exception_type();
        return t ? sys::demangle_type(t->name()) + " (not a std::exception)" : "unknown exception";
    }
}

std::string describe_code_address(uintptr_t pc) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, pc);
    Dl_info info{};
    if (!pc || !dladdr(reinterpret_cast<void *>(pc), &info) || !info.dli_fname) return buf;
    std::string module = info.dli_fname;
    size_t slash = module.rfind('/');
    if (slash != std::string::npos) module = module.substr(slash + 1);
    std::snprintf(buf, sizeof buf, "+0x%" PRIxPTR, pc - reinterpret_cast<uintptr_t>(info.dli_fbase));
    std::string out = module + buf;
    // dladdr knows exported symbols only; static functions are named by the recorded crash stack,
    // which every snapshot symbolizes (with DWARF). Symbolizing here would cost each crash a libdw
    // session, whose leftovers made a crash loop's resident memory creep.
    if (info.dli_sname) {
        std::string function = sys::demangle_symbol(info.dli_sname);
        if (size_t paren = function.find('('); paren != std::string::npos && paren > 0) function.resize(paren);
        out += " in " + function;
    }
    return out;
}

std::shared_ptr<const ExpertModule> load_expert(const std::string &path, std::string *error) {
    auto fail = [&](const std::string &why) -> std::shared_ptr<const ExpertModule> {
        if (error) *error = why;
        return nullptr;
    };
    auto m = std::make_shared<ExpertModule>();
    m->path = path;
    // RTLD_NODELETE: stacks recorded inside the expert stay symbolizable after the host lets go of
    // it, and a thread that could not be stopped never runs unmapped code.
    m->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!m->handle) {
        const char *why = dlerror();
        return fail("cannot load expert '" + path + "': " + (why ? why : "dlopen failed"));
    }
    m->register_fn = reinterpret_cast<PEXPERTREGISTERPROC>(own_symbol(m->handle, EXPERTENTRY_REGISTER));
    m->configure_fn = reinterpret_cast<PEXPERTCONFIGPROC>(own_symbol(m->handle, EXPERTENTRY_CONFIGURE));
    m->run_fn = reinterpret_cast<PEXPERTRUNPROC>(own_symbol(m->handle, EXPERTENTRY_RUN));
    std::string missing;
    if (!m->register_fn) missing = "'" EXPERTENTRY_REGISTER "'";
    if (!m->run_fn) missing += std::string(missing.empty() ? "" : " and ") + "'" EXPERTENTRY_RUN "'";
    if (!missing.empty()) {
        dlclose(m->handle);
        return fail("expert '" + path + "' does not export the entry point " + missing);
    }
    m->text = text_ranges_of(reinterpret_cast<const void *>(m->run_fn));

    // Register runs on the host's thread, guarded like a run: the thread gets an alternate signal
    // stack if it has none, and the fault signals are let through for the call only.
    Guard guard;
    guard.expert_text = m->text.data();
    guard.n_expert_text = m->text.size();
    std::vector<CodeRange> other_text = text_ranges_except(reinterpret_cast<const void *>(m->run_fn));
    guard.other_text = other_text.data();
    guard.n_other_text = other_text.size();
    set_stack_bounds(guard);
    RegisterCall call;
    call.guard = &guard;
    call.fn = m->register_fn;
    call.info = &m->info;
    sigset_t fault_set, old_mask;
    sigemptyset(&fault_set);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaddset(&fault_set, sig);
    GuardExit how;
    {
        AltStack alt;
        pthread_sigmask(SIG_UNBLOCK, &fault_set, &old_mask);
        how = run_guarded(guard, call_register, &call);
        pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    }
    if (how != GuardExit::Returned) {
        nm::thread_recover_after_unwind();
        return fail("expert '" + path + "': Register crashed with " + sys::signal_name(guard.fault.signal) + " at " +
                    describe_code_address(guard.fault.pc));
    }
    if (call.threw) return fail("expert '" + path + "': Register threw " + call.exception);
    if (!call.result) return fail("expert '" + path + "': Register returned FALSE");

    if (m->info.Version != 0)
        return fail("expert '" + path + "': Register set EXPERTENUMINFO.Version to " + std::to_string(m->info.Version) +
                    "; it must be 0");
    if ((m->info.Flags & EXPERT_ENUM_FLAG_CONFIGURABLE) && !m->configure_fn)
        return fail("expert '" + path + "': Register set EXPERT_ENUM_FLAG_CONFIGURABLE but the expert exports no '" +
                    EXPERTENTRY_CONFIGURE "'");
    m->info.szName[EXPERTSTRINGLENGTH - 1] = '\0';
    m->info.szVendor[EXPERTSTRINGLENGTH - 1] = '\0';
    m->info.szDescription[EXPERTSTRINGLENGTH - 1] = '\0';
    if (!m->info.szName[0]) copy_cstr(m->info.szName, EXPERTSTRINGLENGTH, basename_of(path));
    // The private members: the host's, whatever Register wrote there.
    m->info.hExpert = m.get();
    copy_cstr(m->info.szDllName, MAX_PATH, path);
    m->info.hModule = m->handle;
    m->info.pRegisterProc = m->register_fn;
    m->info.pConfigProc = m->configure_fn;
    m->info.pRunProc = m->run_fn;
    return m;
}

} // namespace nm::host

// expert_module.hpp - an expert shared object: loaded, its entry points checked, Register called.
#pragma once

#include <netmon.h>

#include <memory>
#include <string>
#include <vector>

#include "host/guard.hpp"

namespace nm::host {

struct ExpertModule {
    std::string path;
    void *handle = nullptr; // dlopen handle; RTLD_NODELETE keeps the code mapped for good
    PEXPERTREGISTERPROC register_fn = nullptr;
    PEXPERTCONFIGPROC configure_fn = nullptr; // optional
    PEXPERTRUNPROC run_fn = nullptr;
    EXPERTENUMINFO info{};
    std::vector<CodeRange> text; // the module's executable segments (the interrupt safe-point test)
};

// dlopen + entry points + Register (on the calling thread, guarded: a Register that crashes or
// throws fails the load instead of the host). nullptr with the reason, naming the file, in *error.
std::shared_ptr<const ExpertModule> load_expert(const std::string &path, std::string *error);

// "std::runtime_error: text" for the exception being handled (call inside a catch block).
std::string describe_current_exception();
// "SIGSEGV", "SIGABRT", ... ("signal N" for others).
// "expert.so+0x1234 in function" for a code address (the function when dladdr knows it).
std::string describe_code_address(uintptr_t pc);

} // namespace nm::host

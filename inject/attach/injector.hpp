// injector.hpp - loads libnmleak-agent.so into a running process with ptrace and starts the agent.
//
// One thread of the target is stopped (PTRACE_SEIZE + PTRACE_INTERRUPT), made to call
// dlopen(agent) and nmleak_agent_start() as if it had called them itself, and put back exactly as
// it was (registers, vector state, the stack bytes used). Every other thread keeps running. x86-64
// only. Details and limits: injector.cpp.
#pragma once

#include <sys/types.h>

#include <string>

namespace nm::inject {

struct InjectOptions {
    std::string agent_path;       // absolute path of libnmleak-agent.so (as the target sees it)
    pid_t tid = 0;                // the thread to borrow; 0: choose (see choose_thread in .cpp)
    int call_timeout_ms = 20000;  // per injected call
    // Observe the whole heap too (nmleak_agent_start_heap): any process of glibc, libnmapi or not.
    // False: only the agent (nmleak_agent_start), and only into a process with libnmapi.
    bool heap = true;
};

struct InjectResult {
    pid_t tid = 0;              // the thread that made the calls
    std::string thread_state;   // what it was doing: "read(2)", "running", ...
    bool loaded_library = false; // dlopen was called (false: the agent library was mapped already)
    bool already_running = false; // nmleak_agent_start() said an agent runs already
    double stopped_ms = 0;      // how long that thread was stopped, in total
    int tries = 0;              // interrupts until it stopped at a safe point
    std::string heap_status;    // the agent's line on the heap ("heap observed: ...")
};

// False with a one-line *error that says what to do: no such process, permission (other user,
// Yama ptrace_scope, already traced), not an nmleak process (no libnmapi mapped), not x86-64,
// stopped process, the agent failed to start (its own reason, read from the target).
bool inject_agent(pid_t pid, const InjectOptions &options, InjectResult *result, std::string *error);

} // namespace nm::inject

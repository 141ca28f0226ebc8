// live_target.cpp - agent library lookup, connect-with-explanations, attach and detach.
#include "live_target.hpp"

#include "proc.hpp"

#include <nmleak/sys.hpp>

#include <limits.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#ifndef NMLEAK_AGENT_INSTALL_DIR
#define NMLEAK_AGENT_INSTALL_DIR "/usr/local/lib"
#endif

namespace nm::inject {
namespace {

constexpr const char *kAgentFile = "libnmleak-agent.so";

double now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

bool fail(std::string *error, std::string why) {
    if (error) *error = std::move(why);
    return false;
}

std::string real(const std::string &path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

std::string self_dir() {
    const std::string exe = sys::proc_exe(0);
    if (exe.empty()) return ".";
    return exe.substr(0, exe.rfind('/'));
}

} // namespace

std::string find_agent_library(std::string *error) {
    std::vector<std::string> candidates;
    if (const char *env = std::getenv("NMLEAK_AGENT_PATH"); env && *env) {
        const std::string p = real(env);
        if (p.empty()) fail(error, std::string("NMLEAK_AGENT_PATH=") + env + " does not exist");
        return p;
    }
    const std::string dir = self_dir();
    candidates.push_back(dir + "/agent/" + kAgentFile);
    // Installed: bin/nmleak finds lib/libnmleak-agent.so relative to itself (any prefix).
    candidates.push_back(dir + "/" + NMLEAK_BIN_TO_LIB + "/" + kAgentFile);
    candidates.push_back(std::string(NMLEAK_AGENT_INSTALL_DIR) + "/" + kAgentFile);
#ifdef NMLEAK_AGENT_BUILD_PATH
    candidates.push_back(NMLEAK_AGENT_BUILD_PATH);
#endif
    for (const std::string &c : candidates) {
        const std::string p = real(c);
        if (!p.empty() && ::access(p.c_str(), R_OK) == 0) return p;
    }
    std::string list;
    for (const std::string &c : candidates) list += (list.empty() ? "" : ", ") + c;
    fail(error, std::string("cannot find ") + kAgentFile + " (looked at " + list + "; set NMLEAK_AGENT_PATH)");
    return "";
}

bool connect_agent(pid_t pid, const proto::ConnectOptions &options, proto::Client *client, std::string *error) {
    std::string why;
    if (client->connect(pid, options, &why)) return true;
    if (!options.socket_path.empty()) return fail(error, why);
    const ProcessInfo info = inspect_process(pid);
    const std::string p = std::to_string(pid);
    if (!info.exists) return fail(error, "no such process: " + p);
    if (info.state == 'Z' || info.state == 'X') return fail(error, describe_exited(pid, info));
    if (!info.maps_readable) return fail(error, "permission denied: " + explain_no_access(pid, info));
    if (!info.has_libnmapi)
        return fail(error, "process " + p + " (" + info.comm + ") is not an nmleak process: libnmapi.so is not mapped in it");
    if (why.find("has no nmleak agent") != std::string::npos) {
        if (info.has_agent)
            return fail(error, "process " + p + " has the agent library loaded but no agent running (detached); "
                               "run 'nmleak attach " + p + "' to start it again");
        return fail(error, "process " + p + " uses libnmapi but has no agent; run 'nmleak attach " + p + "' first");
    }
    return fail(error, why);
}

bool attach(pid_t pid, pid_t tid, AttachOutcome *out, std::string *error, bool heap) {
    const double start = now_ms();
    proto::ConnectOptions probe;
    probe.hello_flags = proto::kHelloNoSnapshot;
    probe.client_name = "nmleak attach";
    probe.timeout_ms = 2000;
    proto::Client client;
    std::string why;
    if (client.connect(pid, probe, &why)) {
        out->was_running = true;
        out->socket = client.socket_path();
        out->hello = client.hello();
        out->total_ms = now_ms() - start;
        return true;
    }
    InjectOptions options;
    options.agent_path = find_agent_library(error);
    if (options.agent_path.empty()) return false;
    options.tid = tid;
    options.heap = heap;
    if (!inject_agent(pid, options, &out->inject, error)) return false;
    // The agent binds its socket before nmleak_agent_start() returns, so it answers at once; the
    // loop only covers a slow first hello (the agent thread still starting).
    const double deadline = now_ms() + 5000;
    for (;;) {
        if (client.connect(pid, probe, &why)) break;
        if (now_ms() > deadline) return fail(error, "the agent started in process " + std::to_string(pid) +
                                                        " but does not answer on its socket: " + why);
        timespec pause{0, 20 * 1000000L};
        nanosleep(&pause, nullptr);
    }
    out->socket = client.socket_path();
    out->hello = client.hello();
    out->was_running = out->inject.already_running;
    out->total_ms = now_ms() - start;
    return true;
}

std::string human_bytes(uint64_t bytes) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = double(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
    else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

bool detach(pid_t pid, std::string *socket_path, std::string *error) {
    proto::ConnectOptions options;
    options.hello_flags = proto::kHelloNoSnapshot;
    options.client_name = "nmleak detach";
    proto::Client client;
    if (!connect_agent(pid, options, &client, error)) return false;
    *socket_path = client.socket_path();
    const uint32_t seq = client.send_detach(error);
    if (!seq) return false;
    proto::Reply reply;
    if (!client.wait_reply(seq, &reply, 5000, error)) return false;
    if (reply.status != proto::ReplyStatus::Ok)
        return fail(error, std::string("the agent refused to stop: ") + proto::to_string(reply.status));
    // The agent says Bye and closes every connection, then unlinks its socket and its thread ends.
    const double deadline = now_ms() + 5000;
    for (;;) {
        proto::Message m;
        std::string why;
        const proto::ReadStatus st = client.read(&m, 200, &why);
        if (st == proto::ReadStatus::Closed || st == proto::ReadStatus::Failed) break;
        if (now_ms() > deadline) return fail(error, "the agent acknowledged but did not close its connection");
    }
    while (::access(socket_path->c_str(), F_OK) == 0) {
        if (now_ms() > deadline) return fail(error, "the agent stopped but " + *socket_path + " is still there");
        timespec pause{0, 10 * 1000000L};
        nanosleep(&pause, nullptr);
    }
    // The socket goes first; the thread then frees its state and exits. Detach promises the
    // process is back to how it was, so wait for the thread too.
    for (;;) {
        bool agent_thread = false;
        for (const ThreadInfo &t : list_threads(pid)) agent_thread |= t.comm == "nmleak-agent";
        if (!agent_thread) return true;
        if (now_ms() > deadline) return fail(error, "the agent closed its socket but its thread is still running");
        timespec pause{0, 2 * 1000000L};
        nanosleep(&pause, nullptr);
    }
}

} // namespace nm::inject

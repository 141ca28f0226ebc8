// capture.cpp - builds a self-contained, symbolized model::Snapshot of this process's tracker.
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <unordered_map>

#include "model/modules.hpp"
#include "model/reach_capture.hpp"
#include "model/symbolize.hpp"
#include "nmleak/capture.hpp"
#include "track/tracker.hpp"

namespace nm {
namespace {

std::string read_cmdline() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!raw.empty() && raw.back() == '\0') raw.pop_back();
    for (char &c : raw)
        if (c == '\0') c = ' ';
    return raw;
}

std::string read_exe() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

// Maps depot stack ids to snapshot stack indices, and addresses to deduplicated frames.
class StackTable {
public:
    StackTable(const track::StackDepot &depot, model::Snapshot &snap) : depot_(depot), snap_(snap) {
        snap_.stacks.emplace_back(); // index 0: the empty stack
        ids_[0] = 0;
    }
    uint32_t map(uint32_t depot_id) {
        auto [it, fresh] = ids_.try_emplace(depot_id, 0);
        if (!fresh) return it->second;
        model::Stack s;
        if (depot_.get(depot_id, scratch_)) {
            for (uintptr_t a : scratch_) {
                auto [f, added] = frames_.try_emplace(a, uint32_t(snap_.frames.size()));
                if (added) {
                    model::Frame fr;
                    fr.address = a;
                    snap_.frames.push_back(std::move(fr));
                }
                s.frames.push_back(f->second);
            }
        }
        it->second = uint32_t(snap_.stacks.size());
        snap_.stacks.push_back(std::move(s));
        return it->second;
    }

private:
    const track::StackDepot &depot_;
    model::Snapshot &snap_;
    std::unordered_map<uint32_t, uint32_t> ids_;
    std::unordered_map<uint64_t, uint32_t> frames_;
    std::vector<uintptr_t> scratch_;
};

} // namespace

model::Snapshot capture_snapshot(bool include_blocks) {
    auto &t = track::Tracker::get();
    model::Snapshot snap;
    snap.process.pid = getpid();
    snap.process.command = read_cmdline();
    snap.process.executable = read_exe();
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) snap.process.hostname = host;
    snap.process.start_unix_ms = t.start_unix_ms();
    snap.process.snapshot_ms = t.now_ms();
    snap.process.stack_depth = t.stack_depth();

    t.collect(snap.experts, include_blocks);
    if (include_blocks && reach_enabled()) classify_reach(snap);
    snap.modules = list_modules();

    StackTable stacks(t.depot(), snap);
    for (auto &e : snap.experts) {
        for (auto &b : e.blocks) b.stack = stacks.map(b.stack);
        for (auto &c : e.cleanups)
            for (auto &g : c.stacks) g.stack = stacks.map(g.stack);
        for (auto &m : e.misuse) m.stack = stacks.map(m.stack);
        if (e.crash_stack) e.crash_stack = stacks.map(e.crash_stack);
    }

    // Symbolize each distinct frame once. A crash stack's first frame is the faulting instruction
    // itself, not a return address, but one byte earlier still lies in the same function and line
    // in practice; the runner records it as the exact PC + 1 to keep one lookup rule.
    Symbolizer sym;
    std::vector<uint64_t> addrs;
    addrs.reserve(snap.frames.size());
    for (const auto &f : snap.frames) addrs.push_back(f.address);
    std::vector<model::Frame> resolved = sym.resolve(addrs);
    for (size_t i = 0; i < snap.frames.size() && i < resolved.size(); ++i) {
        resolved[i].address = snap.frames[i].address;
        snap.frames[i] = std::move(resolved[i]);
    }
    return snap;
}

void mark_nmleak_thread() noexcept { track::reach::mark_internal_thread(); }

bool record_outcome_detail(void *key, const std::string &detail, int signal, uint64_t address,
                           const uintptr_t *frames, size_t n_frames) {
    return track::Tracker::get().record_outcome_detail(key, detail, signal, address, frames, n_frames);
}

uint32_t key_check(void *key) { return track::Tracker::get().key_check(key); }

// Called from signal handlers: reads the thread-local state without creating it.
bool thread_in_api() noexcept {
    track::ThreadState *ts = track::t_state;
    return ts && ts->in_api.load(std::memory_order_relaxed) != 0;
}

void thread_recover_after_unwind() noexcept {
    track::Tracker::get().thread_recover();
}

} // namespace nm

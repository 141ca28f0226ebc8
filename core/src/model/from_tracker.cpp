// from_tracker.cpp - the tracker's records as model::Experts, and depot stacks as snapshot stacks.
#include "model/from_tracker.hpp"

#include <algorithm>

namespace nm {

model::Misuse misuse_from(const track::MisuseRecord &m) {
    model::Misuse x;
    x.time_ms = m.time_ms;
    x.kind = model::MisuseKind(uint32_t(m.kind));
    x.function = m.function ? m.function : "";
    x.address = m.address;
    x.stack = m.stack;
    x.owner = m.owner;
    return x;
}

model::Expert expert_from(const track::KeyRecord &k) {
    model::Expert e;
    e.id = k.id;
    e.name = k.name;
    e.kind = k.kind == 1 ? model::KeyKind::Module : model::KeyKind::Expert;
    switch (k.phase) {
    case track::KeyPhase::Open: e.state = model::ExpertState::Running; break;
    case track::KeyPhase::Terminating: e.state = model::ExpertState::TerminateRequested; break;
    case track::KeyPhase::Closed: e.state = model::ExpertState::Closed; break;
    }
    e.opened_ms = k.opened_ms;
    e.status.status = k.status.status;
    e.status.substatus = k.status.substatus;
    e.status.text = k.status.text;
    e.status.percent = k.status.percent;
    e.live_blocks = k.live_blocks;
    e.live_bytes = k.live_bytes;
    e.peak_bytes = k.peak_bytes;
    e.allocs = k.allocs;
    e.reallocs = k.reallocs;
    e.frees = k.frees;
    e.misuse_count = k.misuse_count;
    e.outcome_detail = k.outcome_detail;
    e.crash_signal = k.crash_signal;
    e.crash_address = k.crash_address;
    e.crash_stack = k.crash_stack;
    e.blocks.reserve(k.blocks.size());
    for (const track::BlockRecord &b : k.blocks)
        e.blocks.push_back({b.address, b.size, b.stack, b.time_ms,
                            b.origin == 1 ? model::BlockOrigin::Heap : model::BlockOrigin::Api,
                            model::Reach::Unknown});
    if (e.kind == model::KeyKind::Module) {
        e.heap_blocks = k.live_blocks;
        e.heap_bytes = k.live_bytes;
        e.heap_allocs = k.allocs;
        e.heap_frees = k.frees;
    } else {
        e.heap_blocks = k.heap_blocks;
        e.heap_bytes = k.heap_bytes;
        e.heap_allocs = k.heap_allocs;
        e.heap_frees = k.heap_frees;
    }
    if (k.closed) {
        e.outcome = model::Outcome(k.close.outcome);
        e.closed_ms = k.close.time_ms;
        model::Cleanup c;
        c.time_ms = k.close.time_ms;
        c.outcome = model::Outcome(k.close.outcome);
        c.blocks = k.close.blocks;
        c.bytes = k.close.bytes;
        c.stacks.reserve(k.close.stacks.size());
        for (const track::StackGroupRecord &g : k.close.stacks) c.stacks.push_back({g.stack, g.blocks, g.bytes});
        c.left_blocks = k.close.left_blocks;
        c.left_bytes = k.close.left_bytes;
        c.left_stacks.reserve(k.close.left_stacks.size());
        for (const track::StackGroupRecord &g : k.close.left_stacks) c.left_stacks.push_back({g.stack, g.blocks, g.bytes});
        c.reclaimed_left_blocks = k.close.reclaimed_blocks;
        c.reclaimed_left_bytes = k.close.reclaimed_bytes;
        for (const track::StackGroupRecord &g : k.close.reclaimed_stacks)
            c.reclaimed_left_stacks.push_back({g.stack, g.blocks, g.bytes});
        c.reclaim_note = k.close.reclaim_note;
        e.cleanups.push_back(std::move(c));
    }
    return e;
}

std::vector<model::Expert> experts_from(const track::Reading &r) {
    std::vector<model::Expert> out;
    out.reserve(r.open.size() + r.closed.size());
    for (const track::KeyRecord &k : r.open) out.push_back(expert_from(k));
    for (const track::KeyRecord &k : r.closed) out.push_back(expert_from(k));
    std::sort(out.begin(), out.end(), [](const model::Expert &a, const model::Expert &b) { return a.id < b.id; });
    // Closed keys whose left-behind heap blocks are still live: those blocks, and the frees since.
    for (const track::KeyRecord &k : r.retired) {
        auto it = std::lower_bound(out.begin(), out.end(), k.id,
                                   [](const model::Expert &e, uint64_t id) { return e.id < id; });
        model::Expert now = expert_from(k);
        if (it == out.end() || it->id != k.id) { // its close record was dropped from the history
            out.insert(it, std::move(now));
            continue;
        }
        it->blocks = std::move(now.blocks);
        it->heap_blocks = k.heap_blocks;
        it->heap_bytes = k.heap_bytes;
        it->heap_frees += k.heap_frees;
    }
    for (const track::MisuseRecord &m : r.misuse) {
        auto it = std::lower_bound(out.begin(), out.end(), m.key_id,
                                   [](const model::Expert &e, uint64_t id) { return e.id < id; });
        if (it != out.end() && it->id == m.key_id) it->misuse.push_back(misuse_from(m));
    }
    add_events(out);
    return out;
}

DepotStacks::DepotStacks(model::Snapshot &snap) : snap_(snap) {
    if (snap_.stacks.empty()) snap_.stacks.emplace_back(); // index 0: the empty stack
    ids_[0] = 0;
}

uint32_t DepotStacks::map(uint32_t depot_id) {
    auto [it, fresh] = ids_.try_emplace(depot_id, 0);
    if (!fresh) return it->second;
    model::Stack s;
    if (track::Query::stack(depot_id, scratch_)) {
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

void DepotStacks::map_expert(model::Expert &e) {
    for (auto &b : e.blocks) b.stack = map(b.stack);
    for (auto &c : e.cleanups) {
        for (auto &g : c.stacks) g.stack = map(g.stack);
        for (auto &g : c.left_stacks) g.stack = map(g.stack);
        for (auto &g : c.reclaimed_left_stacks) g.stack = map(g.stack);
    }
    for (auto &m : e.misuse) m.stack = map(m.stack);
    if (e.crash_stack) e.crash_stack = map(e.crash_stack);
}

} // namespace nm

// live_source.cpp - nm::live::Source: the agent's full snapshots and per-client updates.
#include <nmleak/capture.hpp>
#include <nmleak/live.hpp>

#include <unistd.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "model/from_tracker.hpp"
#include "model/modules.hpp"
#include "model/symbolize.hpp"
#include "track/query.hpp"

namespace nm::live {
namespace {

KeyMark mark_of(const model::Expert &e) {
    KeyMark m;
    m.state = e.state;
    m.outcome = e.outcome;
    m.closed_ms = e.closed_ms;
    m.status = e.status;
    m.live_blocks = e.live_blocks;
    m.live_bytes = e.live_bytes;
    m.peak_bytes = e.peak_bytes;
    m.allocs = e.allocs;
    m.reallocs = e.reallocs;
    m.frees = e.frees;
    m.misuse_count = e.misuse_count;
    m.outcome_detail = e.outcome_detail;
    m.crash_signal = e.crash_signal;
    m.heap_blocks = e.heap_blocks;
    m.heap_bytes = e.heap_bytes;
    m.heap_frees = e.heap_frees;
    m.cleanups_sent = e.cleanups.size();
    m.misuse_sent = e.misuse.size();
    m.events_sent = e.events.size();
    m.events_dropped = e.events_dropped;
    return m;
}

bool same(const KeyMark &a, const KeyMark &b) {
    return a.state == b.state && a.outcome == b.outcome && a.closed_ms == b.closed_ms &&
           a.status.status == b.status.status && a.status.substatus == b.status.substatus &&
           a.status.percent == b.status.percent && a.status.text == b.status.text &&
           a.live_blocks == b.live_blocks && a.live_bytes == b.live_bytes && a.peak_bytes == b.peak_bytes &&
           a.allocs == b.allocs && a.reallocs == b.reallocs && a.frees == b.frees &&
           a.misuse_count == b.misuse_count && a.outcome_detail == b.outcome_detail &&
           a.crash_signal == b.crash_signal && a.cleanups_sent == b.cleanups_sent &&
           a.misuse_sent == b.misuse_sent && a.events_sent == b.events_sent && a.events_dropped == b.events_dropped &&
           a.heap_blocks == b.heap_blocks && a.heap_bytes == b.heap_bytes && a.heap_frees == b.heap_frees;
}

} // namespace

struct Source::Impl {
    std::vector<model::Expert> now; // open keys at the last refresh(); stacks are depot ids
    uint64_t history_seq = 0;       // the tracker's history sequence number then
    uint64_t now_ms = 0;
    uint32_t depth = 0;
    uint64_t module_generation = 0;

    // The process's symbolizer, shared with full snapshots: modules are loaded once.
    void symbolize(model::Snapshot &out) {
        if (out.frames.empty()) return;
        std::vector<uint64_t> addrs;
        addrs.reserve(out.frames.size());
        for (const auto &f : out.frames) addrs.push_back(f.address);
        std::vector<model::Frame> resolved = process_symbolizer().resolve(addrs);
        for (size_t i = 0; i < out.frames.size() && i < resolved.size(); ++i) {
            resolved[i].address = out.frames[i].address;
            out.frames[i] = std::move(resolved[i]);
        }
    }
};

Source::Source() : d_(std::make_unique<Impl>()) {}
Source::~Source() = default;

model::Snapshot Source::full(bool include_blocks, Baseline *baseline) {
    // The generation is read before the capture: a module loaded during it makes the next update
    // carry the module list again, never the other way round.
    const uint64_t generation = module_generation();
    uint64_t seq = 0;
    model::Snapshot snap = capture_snapshot_seq(include_blocks, &seq);
    if (baseline) {
        baseline->keys_.clear();
        for (const model::Expert &e : snap.experts)
            if (e.state != model::ExpertState::Closed) baseline->keys_[e.id] = mark_of(e);
        baseline->history_seq_ = seq;
        baseline->module_generation_ = generation;
        baseline->have_modules_ = true;
        baseline->stack_depth_ = snap.process.stack_depth;
    }
    return snap;
}

void Source::refresh() {
    track::Reading reading;
    track::Query::read(reading, false, track::Query::kNoHistory);
    d_->now = experts_from(reading);
    d_->history_seq = reading.history_seq;
    d_->now_ms = track::Query::now_ms();
    d_->depth = track::Query::stack_depth();
    d_->module_generation = module_generation();
}

uint32_t Source::stack_depth() const { return track::Query::stack_depth(); }
uint64_t Source::start_unix_ms() const { return track::Query::start_unix_ms(); }

// Costs O(open keys + what is new for this client): closed keys and misuse events come from the
// tracker's history by sequence number, never by walking all of it.
bool Source::delta(Baseline *baseline, model::Snapshot *out) {
    model::Snapshot u;
    u.process.pid = ::getpid();
    u.process.start_unix_ms = track::Query::start_unix_ms();
    u.process.snapshot_ms = d_->now_ms;
    u.process.stack_depth = d_->depth;
    u.stacks.emplace_back(); // stack 0: the empty stack
    bool changed = false;
    if (!baseline->have_modules_ || baseline->module_generation_ != d_->module_generation) {
        u.modules = list_modules();
        baseline->module_generation_ = d_->module_generation;
        baseline->have_modules_ = true;
        changed = true;
    }
    if (baseline->stack_depth_ != d_->depth) {
        baseline->stack_depth_ = d_->depth;
        changed = true;
    }

    // What the history gained since this client's last update, up to the last refresh() (so the
    // update agrees with the figures read then).
    track::Reading h;
    if (baseline->history_seq_ < d_->history_seq) track::Query::history(h, baseline->history_seq_);
    while (!h.closed.empty() && h.closed.back().seq > d_->history_seq) h.closed.pop_back();
    while (!h.misuse.empty() && h.misuse.back().seq > d_->history_seq) h.misuse.pop_back();
    std::unordered_map<uint64_t, std::vector<model::Misuse>> new_misuse;
    for (const track::MisuseRecord &m : h.misuse) new_misuse[m.key_id].push_back(misuse_from(m));
    auto take_misuse = [&](uint64_t id) {
        std::vector<model::Misuse> v;
        if (auto it = new_misuse.find(id); it != new_misuse.end()) v = std::move(it->second);
        return v;
    };

    DepotStacks mapper(u);
    auto emit = [&](model::Expert &&x) {
        for (auto &c : x.cleanups)
            for (auto &g : c.stacks) g.stack = mapper.map(g.stack);
        for (auto &m : x.misuse) m.stack = mapper.map(m.stack);
        x.crash_stack = mapper.map(x.crash_stack);
        u.experts.push_back(std::move(x));
        changed = true;
    };
    std::unordered_set<uint64_t> open;
    for (const model::Expert &e : d_->now) {
        open.insert(e.id);
        std::vector<model::Misuse> misuse = take_misuse(e.id);
        const KeyMark now_mark = mark_of(e);
        auto [it, fresh] = baseline->keys_.try_emplace(e.id);
        if (!fresh && misuse.empty() && same(it->second, now_mark)) continue;
        const size_t events_from = fresh ? 0 : std::min(it->second.events_sent, e.events.size());
        it->second = now_mark;
        model::Expert x = e;
        x.misuse = std::move(misuse);
        x.events.assign(e.events.begin() + ptrdiff_t(events_from), e.events.end());
        emit(std::move(x));
    }
    std::vector<model::Expert> closed;
    closed.reserve(h.closed.size());
    for (const track::KeyRecord &k : h.closed) closed.push_back(expert_from(k));
    add_events(closed);
    for (model::Expert &x : closed) {
        x.misuse = take_misuse(x.id);
        // Events this client was told while the key was open are not sent again.
        if (auto it = baseline->keys_.find(x.id); it != baseline->keys_.end()) {
            const size_t events_from = std::min(it->second.events_sent, x.events.size());
            x.events.erase(x.events.begin(), x.events.begin() + ptrdiff_t(events_from));
            baseline->keys_.erase(it);
        }
        emit(std::move(x));
    }
    // Marks of keys that are no longer open (closed, told above or earlier) are dropped.
    for (auto it = baseline->keys_.begin(); it != baseline->keys_.end();) {
        if (open.count(it->first)) ++it;
        else it = baseline->keys_.erase(it);
    }
    baseline->history_seq_ = d_->history_seq;
    if (!changed) return false;
    std::sort(u.experts.begin(), u.experts.end(),
              [](const model::Expert &a, const model::Expert &b) { return a.id < b.id; });
    d_->symbolize(u);
    *out = std::move(u);
    return true;
}

} // namespace nm::live

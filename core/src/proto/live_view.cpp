// live_view.cpp - nm::proto::LiveView: the client's running model, a full snapshot plus updates.
#include <nmleak/protocol.hpp>

#include <cstring>

namespace nm::proto {
namespace {

std::string stack_key(const std::vector<uint32_t> &frames) {
    std::string k(frames.size() * sizeof(uint32_t), '\0');
    if (!frames.empty()) std::memcpy(k.data(), frames.data(), k.size());
    return k;
}

} // namespace

void LiveView::reset(model::Snapshot full) {
    snap_ = std::move(full);
    if (snap_.stacks.empty()) snap_.stacks.emplace_back(); // stack 0 is always the empty stack
    expert_index_.clear();
    frame_index_.clear();
    stack_index_.clear();
    for (size_t i = 0; i < snap_.experts.size(); ++i) expert_index_[snap_.experts[i].id] = i;
    for (size_t i = 0; i < snap_.frames.size(); ++i) frame_index_.try_emplace(snap_.frames[i].address, uint32_t(i));
    for (size_t i = 0; i < snap_.stacks.size(); ++i)
        stack_index_.try_emplace(stack_key(snap_.stacks[i].frames), uint32_t(i));
}

uint32_t LiveView::import_stack(const model::Snapshot &from, uint32_t stack) {
    // decode_payload already checked every index; the bounds checks keep this safe for a
    // hand-built update too.
    if (stack == 0 || stack >= from.stacks.size()) return 0;
    std::vector<uint32_t> frames;
    frames.reserve(from.stacks[stack].frames.size());
    for (uint32_t fi : from.stacks[stack].frames) {
        if (fi >= from.frames.size()) continue;
        const model::Frame &f = from.frames[fi];
        auto [it, fresh] = frame_index_.try_emplace(f.address, uint32_t(snap_.frames.size()));
        if (fresh) snap_.frames.push_back(f);
        frames.push_back(it->second);
    }
    auto [it, fresh] = stack_index_.try_emplace(stack_key(frames), uint32_t(snap_.stacks.size()));
    if (fresh) snap_.stacks.push_back({std::move(frames)});
    return it->second;
}

void LiveView::apply_update(const model::Snapshot &u) {
    snap_.process.snapshot_ms = u.process.snapshot_ms;
    snap_.process.stack_depth = u.process.stack_depth;
    if (!u.modules.empty()) snap_.modules = u.modules;
    for (const model::Expert &in : u.experts) {
        model::Expert e = in; // figures as sent; stacks re-indexed below
        e.blocks.clear();
        for (auto &c : e.cleanups)
            for (auto *groups : {&c.stacks, &c.left_stacks, &c.reclaimed_left_stacks})
                for (auto &g : *groups) g.stack = import_stack(u, g.stack);
        for (auto &m : e.misuse) m.stack = import_stack(u, m.stack);
        e.crash_stack = import_stack(u, e.crash_stack);

        auto found = expert_index_.find(e.id);
        if (found == expert_index_.end()) {
            expert_index_[e.id] = snap_.experts.size();
            snap_.experts.push_back(std::move(e));
            continue;
        }
        model::Expert &old = snap_.experts[found->second];
        // Events are sent once (only the new ones): append them. Blocks are not streamed: keep the
        // last snapshot's, except for a key that closed (it has none).
        std::vector<model::Block> blocks = std::move(old.blocks);
        std::vector<model::Cleanup> cleanups = std::move(old.cleanups);
        std::vector<model::Misuse> misuse = std::move(old.misuse);
        std::vector<model::Event> events = std::move(old.events);
        for (auto &c : e.cleanups) cleanups.push_back(std::move(c));
        for (auto &m : e.misuse) misuse.push_back(std::move(m));
        for (auto &v : e.events) events.push_back(std::move(v));
        old = std::move(e);
        old.blocks = old.state == model::ExpertState::Closed ? std::vector<model::Block>{} : std::move(blocks);
        old.cleanups = std::move(cleanups);
        old.misuse = std::move(misuse);
        old.events = std::move(events);
    }
    ++updates_;
}

bool LiveView::apply(const Message &m) {
    if (m.type == MessageType::Snapshot) {
        reset(m.snapshot);
        return true;
    }
    if (m.type == MessageType::Update) {
        apply_update(m.snapshot);
        return true;
    }
    return false;
}

} // namespace nm::proto

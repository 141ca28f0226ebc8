// model_data.cpp - the ModelBuilder: snapshot in, aggregated immutable ModelData out (model_data.hpp).
#include "model_data.hpp"

#include <atomic>
#include <chrono>

namespace nm::gui {

std::string SourceInfo::label() const {
    switch (kind) {
    case SourceKind::None: return "nothing open";
    case SourceKind::File: return "snapshot " + path;
    case SourceKind::Live: return "pid " + std::to_string(pid);
    }
    return {};
}

double now_ms() {
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

std::shared_ptr<const ModelData> empty_model() {
    static const std::shared_ptr<const ModelData> empty = [] {
        auto m = std::make_shared<ModelData>();
        auto snap = std::make_shared<model::Snapshot>();
        snap->stacks.emplace_back(); // stack 0 is always the empty stack
        m->snap = snap;
        m->agg = build_aggregate(*snap);
        m->trees = build_call_trees(*snap, m->agg);
        return std::shared_ptr<const ModelData>(m);
    }();
    return empty;
}

std::shared_ptr<const ModelData> ModelBuilder::build(std::shared_ptr<const model::Snapshot> snap,
                                                     const SourceInfo &source, double load_ms) {
    const double t0 = now_ms();
    auto m = std::make_shared<ModelData>();
    static std::atomic<uint64_t> serials{1};
    m->generation = ++generation_;
    m->serial = ++serials;
    m->source = source;
    m->snap = std::move(snap);
    m->agg = build_aggregate(*m->snap);
    m->trees = build_call_trees(*m->snap, m->agg);
    history_.add(*m->snap);
    m->timeline = history_.timeline();
    m->load_ms = load_ms;
    m->build_ms = now_ms() - t0;
    return m;
}

void ModelBuilder::reset() {
    history_.clear();
    generation_ = 0;
}

} // namespace nm::gui

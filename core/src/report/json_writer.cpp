// json_writer.cpp - the JSON report (schema: core/src/report/report.schema.json, version kJsonVersion).
//
// Streamed with JsonOut rather than built as an nlohmann DOM: see json_support.hpp for the figures.
#include <nmleak/report.hpp>
#include <nmleak/sys.hpp>

#include "report/json_support.hpp"
#include "report/render.hpp"

#include <ostream>
#include <unordered_map>

namespace nm::report {
namespace {

// Each frame's encoded object, built on first use: a big report repeats frames many times.
class FrameTexts {
public:
    explicit FrameTexts(const model::Snapshot &s) : snap_(s) {}

    const std::string &get(uint32_t id) {
        auto [it, fresh] = texts_.try_emplace(id);
        if (fresh) {
            const model::Frame &f = detail::frame_at(snap_, id);
            std::string &t = it->second;
            t = "{\"function\": " + detail::json_string(f.function);
            t += ", \"file\": " + detail::json_string(f.file);
            t += ", \"line\": " + std::to_string(f.line);
            t += ", \"module\": " + detail::json_string(f.module);
            t += ", \"offset\": \"" + detail::hex(f.module_offset);
            t += "\", \"address\": \"" + detail::hex(f.address) + "\"}";
        }
        return it->second;
    }

    void stack(detail::JsonOut &j, uint32_t stack) {
        j.begin_array();
        for (uint32_t id : detail::stack_at(snap_, stack).frames) j.raw(get(id));
        j.end_array();
    }

private:
    const model::Snapshot &snap_;
    std::unordered_map<uint32_t, std::string> texts_;
};

void totals(detail::JsonOut &j, const Totals &t) {
    j.begin_object();
    j.key("stacks").num(t.stacks);
    j.key("blocks").num(t.blocks);
    j.key("bytes").num(t.bytes);
    j.end_object();
}

// Live blocks and bytes per reachability class.
void reach_totals(detail::JsonOut &j, const ReachTotals &t) {
    j.begin_object();
    for (model::Reach c : {model::Reach::DefinitelyLost, model::Reach::IndirectlyLost, model::Reach::Reachable,
                           model::Reach::Unknown}) {
        j.key(detail::reach_name(c)).begin_object();
        j.key("blocks").num(t.blocks[static_cast<size_t>(c)]);
        j.key("bytes").num(t.bytes[static_cast<size_t>(c)]);
        j.end_object();
    }
    j.end_object();
}

void process(detail::JsonOut &j, const model::Snapshot &s) {
    const model::Process &p = s.process;
    j.begin_object();
    j.key("pid").num(p.pid);
    j.key("command").str(p.command);
    j.key("executable").str(p.executable);
    j.key("hostname").str(p.hostname);
    j.key("start_unix_ms").num(p.start_unix_ms);
    j.key("snapshot_ms").num(p.snapshot_ms);
    j.key("stack_depth").num(p.stack_depth);
    j.key("heap_tracked").boolean(p.heap_tracked);
    j.key("foreign_frees").num(p.foreign_frees);
    j.key("reach_classified").boolean(p.reach_classified);
    j.key("modules").begin_array();
    for (const model::Module &m : s.modules) {
        j.begin_object();
        j.key("path").str(m.path);
        j.key("base").str(detail::hex(m.base));
        j.key("size").num(m.size);
        j.key("build_id").str(m.build_id);
        j.end_object();
    }
    j.end_array();
    j.end_object();
}

void leak(detail::JsonOut &j, FrameTexts &frames, const LeakGroup &g, bool heap) {
    j.begin_object();
    j.key("outstanding").boolean(g.kind == LeakKind::Outstanding);
    if (std::optional<uint64_t> size = g.block_size()) j.key("size").num(*size);
    else j.key("size").null();
    if (g.sizes_known) {
        j.key("min_size").num(g.min_size);
        j.key("max_size").num(g.max_size);
    }
    j.key("count").num(g.blocks);
    j.key("bytes").num(g.bytes);
    if (heap) j.key("origin").str(g.heap ? "heap" : "api");
    if (g.reach != model::Reach::Unknown) j.key("reach").str(detail::reach_name(g.reach));
    j.key("stack");
    frames.stack(j, g.stack);
    j.end_object();
}

void stack_groups(detail::JsonOut &j, FrameTexts &frames, const std::vector<model::StackGroup> &groups) {
    j.key("stacks").begin_array();
    for (const model::StackGroup &g : groups) {
        j.begin_object();
        j.key("count").num(g.blocks);
        j.key("bytes").num(g.bytes);
        j.key("stack");
        frames.stack(j, g.stack);
        j.end_object();
    }
    j.end_array();
}

// Heap blocks of the key still live at the close (listed, not freed).
void left_behind(detail::JsonOut &j, FrameTexts &frames, const model::Cleanup &c) {
    j.key("left_behind").begin_object();
    j.key("blocks").num(c.left_blocks);
    j.key("bytes").num(c.left_bytes);
    stack_groups(j, frames, c.left_stacks);
    // The opt-in reclaim: the left-behind blocks nothing pointed to, freed by the close.
    if (c.reclaimed_left_blocks || !c.reclaim_note.empty()) {
        j.key("reclaimed").begin_object();
        j.key("blocks").num(c.reclaimed_left_blocks);
        j.key("bytes").num(c.reclaimed_left_bytes);
        stack_groups(j, frames, c.reclaimed_left_stacks);
        if (!c.reclaim_note.empty()) j.key("note").str(c.reclaim_note);
        j.end_object();
    }
    j.end_object();
}

void event(detail::JsonOut &j, const model::Event &ev) {
    j.begin_object();
    j.key("time_ms").num(ev.time_ms);
    j.key("ident").num(ev.ident);
    j.key("flags").num(ev.flags);
    j.key("severity").num(ev.severity);
    j.key("justification").num(ev.justification);
    j.key("source").str(ev.source);
    j.key("name").str(ev.name);
    j.key("description").str(ev.description);
    j.key("machine").str(ev.machine);
    j.key("url").str(ev.url);
    j.key("event_unix_ms").num(ev.event_unix_ms);
    j.key("justification_text").str(ev.justification_text);
    j.key("severity_name").str(detail::severity_name(ev.severity));
    j.key("columns").begin_array();
    for (const model::EventColumn &c : ev.columns) {
        j.begin_object();
        j.key("name").str(c.name);
        j.key("type").num(c.type);
        j.key("value").str(c.value);
        j.end_object();
    }
    j.end_array();
    j.end_object();
}

void expert(detail::JsonOut &j, FrameTexts &frames, const model::Expert &e,
            const ExpertTotals &t, const std::vector<const LeakGroup *> &leaks, bool classified, bool heap) {
    j.begin_object();
    j.key("id").num(e.id);
    j.key("name").str(e.name);
    j.key("kind").str(model::to_string(e.kind));
    j.key("state").str(detail::state_name(e.state));
    if (e.state == model::ExpertState::Closed) j.key("outcome").str(detail::outcome_name(e.outcome));
    else j.key("outcome").null();
    j.key("outcome_detail").str(e.outcome_detail);
    j.key("opened_ms").num(e.opened_ms);
    j.key("closed_ms").num(e.closed_ms);
    j.key("status").begin_object();
    j.key("status").num(e.status.status);
    j.key("substatus").num(e.status.substatus);
    j.key("text").str(e.status.text);
    j.key("percent").num(e.status.percent);
    j.end_object();
    j.key("outstanding_blocks").num(e.live_blocks);
    j.key("outstanding_bytes").num(e.live_bytes);
    j.key("peak_bytes").num(e.peak_bytes);
    j.key("allocs").num(e.allocs);
    j.key("frees").num(e.frees);
    j.key("reallocs").num(e.reallocs);
    j.key("misuse_count").num(std::max<uint64_t>(e.misuse_count, e.misuse.size()));
    if (heap) {
        // Heap blocks (malloc/new): for an expert key outside the API and not in outstanding_*.
        j.key("heap").begin_object();
        j.key("blocks").num(e.heap_blocks);
        j.key("bytes").num(e.heap_bytes);
        j.key("allocs").num(e.heap_allocs);
        j.key("frees").num(e.heap_frees);
        j.end_object();
    }
    j.key("crash");
    if (e.crash_signal != 0) {
        j.begin_object();
        j.key("signal").num(e.crash_signal);
        j.key("signal_name").str(sys::signal_name(e.crash_signal));
        j.key("address").str(detail::hex(e.crash_address));
        j.key("stack");
        frames.stack(j, e.crash_stack);
        j.end_object();
    } else {
        j.null();
    }
    if (classified) {
        j.key("reachability");
        reach_totals(j, t.reach);
    }
    j.key("leaks").begin_array();
    for (const LeakGroup *g : leaks) leak(j, frames, *g, heap);
    j.end_array();
    j.key("suppressed");
    totals(j, t.suppressed);

    j.key("cleanups").begin_array();
    for (const model::Cleanup &c : e.cleanups) {
        if (c.outcome == model::Outcome::Done) continue; // those blocks are this key's leaks
        j.begin_object();
        j.key("reason").str(detail::outcome_name(c.outcome));
        j.key("time_ms").num(c.time_ms);
        j.key("blocks").num(c.blocks);
        j.key("bytes").num(c.bytes);
        stack_groups(j, frames, c.stacks);
        left_behind(j, frames, c);
        j.end_object();
    }
    j.end_array();
    if (heap) {
        // A done close's heap blocks still live then (listed, not freed; the live ones are leaks).
        for (const model::Cleanup &c : e.cleanups)
            if (c.outcome == model::Outcome::Done && (c.left_blocks || c.reclaimed_left_blocks || !c.reclaim_note.empty())) {
                j.key("done_close");
                j.begin_object();
                j.key("time_ms").num(c.time_ms);
                left_behind(j, frames, c);
                j.end_object();
            }
    }

    j.key("misuse").begin_array();
    for (const model::Misuse &m : e.misuse) {
        j.begin_object();
        j.key("kind").str(detail::misuse_name(m.kind));
        j.key("function").str(m.function);
        j.key("address").str(detail::hex(m.address));
        j.key("time_ms").num(m.time_ms);
        j.key("owner").str(m.owner);
        j.key("stack");
        frames.stack(j, m.stack);
        j.end_object();
    }
    j.end_array();

    j.key("events").begin_array();
    for (const model::Event &ev : e.events) event(j, ev);
    j.end_array();
    j.key("events_dropped").num(e.events_dropped);
    j.end_object();
}

} // namespace

void detail::render_json(std::string &out, const LeakReport &r) {
    const model::Snapshot &s = *r.snapshot;
    // Each expert lists its leaks in report order, so biggest first within the expert too.
    std::vector<std::vector<const LeakGroup *>> per_expert(s.experts.size());
    for (const LeakGroup &g : r.leaks) per_expert[g.expert].push_back(&g);

    FrameTexts frames(s);
    JsonOut j(out);
    j.begin_object();
    j.key("version").num(static_cast<int64_t>(kJsonVersion));
    j.key("generator").str("nmleak");
    j.key("process");
    process(j, s);
    j.key("summary").begin_object();
    j.key("leaked");
    totals(j, r.leaked);
    j.key("outstanding");
    totals(j, r.outstanding);
    j.key("suppressed");
    totals(j, r.suppressed_total);
    j.key("unsuppressed_stacks").num(r.unsuppressed_stacks());
    if (r.classified) {
        j.key("still_reachable"); // outstanding blocks not counted as leaks (NMLEAK_LEAKS=lost)
        totals(j, r.reachable);
        j.key("leaks_counted").str(r.count_reachable ? "all" : "lost");
        j.key("reachability");
        reach_totals(j, r.reach);
    }
    j.end_object();

    j.key("suppressions").begin_array();
    if (r.suppressions) {
        const auto &rules = r.suppressions->rules();
        for (size_t i = 0; i < rules.size(); ++i) {
            const Totals &t = r.rule_use[i];
            j.begin_object();
            j.key("stacks").num(t.stacks);
            j.key("blocks").num(t.blocks);
            j.key("bytes").num(t.bytes);
            j.key("pattern").str("leak:" + rules[i].pattern);
            j.key("source").str(rules[i].source + ":" + std::to_string(rules[i].line));
            j.end_object();
        }
    }
    j.end_array();

    // Only with budgets given, so reports without them keep their shape.
    if (!r.budgets.empty()) {
        j.key("budgets").begin_array();
        for (const BudgetCheck &c : r.budget_checks) {
            j.begin_object();
            j.key("limit").str(r.budgets[c.budget].text);
            j.key("pattern").str(r.budgets[c.budget].pattern);
            j.key("key");
            if (c.key.empty()) j.null(); else j.str(c.key);
            j.key("budget_bytes").num(c.limit);
            j.key("leaked_bytes").num(c.leaked);
            j.key("over").boolean(c.over());
            j.key("over_by_bytes").num(c.excess());
            j.end_object();
        }
        j.end_array();
        j.key("budgets_over").num(static_cast<uint64_t>(r.budgets_over()));
    }

    j.key("experts").begin_array();
    detail::Ticker ticker(r, "writing JSON", s.experts.size());
    for (size_t i = 0; i < s.experts.size(); ++i) {
        ticker.tick();
        expert(j, frames, s.experts[i], r.experts[i], per_expert[i], r.classified, s.process.heap_tracked);
    }
    j.end_array();
    j.end_object();
}

void write_json(std::ostream &out, const LeakReport &r) {
    std::string text;
    detail::render_json(text, r);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

} // namespace nm::report

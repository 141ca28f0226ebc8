// leak_report.cpp - derives the report model (leak groups per key and stack) from a Snapshot.
#include <nmleak/report.hpp>

#include "report/render.hpp"

#include <algorithm>
#include <unordered_map>

namespace nm::report {
namespace {

bool key_open(const model::Expert &e) { return e.state != model::ExpertState::Closed; }

// Blocks of one expert grouped by stack id. Stack ids are dense, so a vector indexed by id would
// be fastest, but one expert usually touches few of a big snapshot's stacks: a hash map keeps the
// cost proportional to the expert's own blocks.
// In a classified snapshot the groups are per stack and class; still-reachable blocks are only
// totalled (in *reachable) unless they count.
void group_outstanding(const model::Expert &e, uint32_t expert, bool classified, bool count_reachable,
                       std::vector<LeakGroup> &out, ExpertTotals &totals, LeakReport &r) {
    std::unordered_map<uint64_t, size_t> index;
    for (const model::Block &b : e.blocks) {
        const model::Reach reach = classified ? b.reach : model::Reach::Unknown;
        totals.reach.add(reach, b.size);
        r.reach.add(reach, b.size);
        if (reach == model::Reach::Reachable && !count_reachable) {
            ++r.reachable.blocks;
            r.reachable.bytes += b.size;
            continue;
        }
        const uint64_t key = uint64_t(b.stack) << 2 | (uint64_t(reach) & 3);
        auto [it, fresh] = index.try_emplace(key, out.size());
        if (fresh) {
            LeakGroup g;
            g.kind = LeakKind::Outstanding;
            g.expert = expert;
            g.stack = b.stack;
            g.reach = reach;
            g.sizes_known = true;
            g.min_size = b.size;
            g.max_size = b.size;
            g.heap = b.origin == model::BlockOrigin::Heap;
            out.push_back(g);
        }
        LeakGroup &g = out[it->second];
        ++g.blocks;
        g.bytes += b.size;
        g.min_size = std::min(g.min_size, b.size);
        g.max_size = std::max(g.max_size, b.size);
    }
}

void group_leaked(const model::Expert &e, uint32_t expert, std::vector<LeakGroup> &out) {
    std::unordered_map<uint64_t, size_t> index; // stack << 1 | heap
    for (const model::Cleanup &c : e.cleanups) {
        if (c.outcome != model::Outcome::Done) continue;
        uint64_t blocks = 0, bytes = 0;
        auto add = [&](uint32_t stack, uint64_t n, uint64_t sz, bool heap = false) {
            auto [it, fresh] = index.try_emplace(uint64_t(stack) << 1 | (heap ? 1 : 0), out.size());
            if (fresh) {
                LeakGroup g;
                g.kind = LeakKind::Leaked;
                g.expert = expert;
                g.stack = stack;
                g.heap = heap;
                out.push_back(g);
            }
            LeakGroup &g = out[it->second];
            g.blocks += n;
            g.bytes += sz;
        };
        for (const model::StackGroup &sg : c.stacks) {
            if (sg.blocks == 0 && sg.bytes == 0) continue;
            add(sg.stack, sg.blocks, sg.bytes);
            blocks += sg.blocks;
            bytes += sg.bytes;
        }
        // A record whose per-stack groups do not add up to its totals (stacks dropped, sizes-only
        // mode) still reports the rest, under the empty stack.
        if (c.blocks > blocks || c.bytes > bytes)
            add(0, c.blocks > blocks ? c.blocks - blocks : 0, c.bytes > bytes ? c.bytes - bytes : 0);
        // Left-behind heap blocks the opt-in reclaim freed at the close (nothing pointed to them):
        // leaked by the run like its API blocks.
        uint64_t heap_blocks = 0, heap_bytes = 0;
        for (const model::StackGroup &sg : c.reclaimed_left_stacks) {
            if (sg.blocks == 0 && sg.bytes == 0) continue;
            add(sg.stack, sg.blocks, sg.bytes, true);
            heap_blocks += sg.blocks;
            heap_bytes += sg.bytes;
        }
        if (c.reclaimed_left_blocks > heap_blocks || c.reclaimed_left_bytes > heap_bytes)
            add(0, c.reclaimed_left_blocks > heap_blocks ? c.reclaimed_left_blocks - heap_blocks : 0,
                c.reclaimed_left_bytes > heap_bytes ? c.reclaimed_left_bytes - heap_bytes : 0, true);
    }
}

bool bigger(const LeakGroup &a, const LeakGroup &b) {
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    if (a.blocks != b.blocks) return a.blocks > b.blocks;
    if (a.kind != b.kind) return a.kind < b.kind;
    if (a.expert != b.expert) return a.expert < b.expert;
    if (a.stack != b.stack) return a.stack < b.stack;
    return a.reach > b.reach;
}

} // namespace

std::optional<Format> parse_format(std::string_view name) {
    if (name == "text" || name == "txt") return Format::Text;
    if (name == "json") return Format::Json;
    if (name == "sarif") return Format::Sarif;
    if (name == "folded") return Format::Folded;
    if (name == "snapshot" || name == "nmsnap") return Format::Snapshot;
    if (name == "pprof") return Format::Pprof;
    if (name == "html" || name == "htm") return Format::Html;
    return std::nullopt;
}

std::optional<Format> format_for_path(std::string_view path) {
    std::string_view base = detail::basename(path);
    auto ends = [&](std::string_view ext) {
        return base.size() > ext.size() && base.substr(base.size() - ext.size()) == ext;
    };
    if (ends(".sarif") || ends(".sarif.json")) return Format::Sarif;
    if (ends(".txt") || ends(".log")) return Format::Text;
    if (ends(".json")) return Format::Json;
    if (ends(".folded")) return Format::Folded;
    if (ends(".nmsnap")) return Format::Snapshot;
    if (ends(".pb.gz") || ends(".pprof")) return Format::Pprof;
    if (ends(".html") || ends(".htm")) return Format::Html;
    return std::nullopt;
}

const char *to_string(Format f) {
    switch (f) {
    case Format::Text: return "text";
    case Format::Json: return "json";
    case Format::Sarif: return "sarif";
    case Format::Folded: return "folded";
    case Format::Snapshot: return "snapshot";
    case Format::Pprof: return "pprof";
    case Format::Html: return "html";
    }
    return "unknown";
}

LeakReport build_report(const model::Snapshot &snap, const Options &options) {
    LeakReport r;
    r.snapshot = &snap;
    r.suppressions = options.suppressions;
    r.source_root = options.source_root;
    r.sarif_max_results = options.sarif_max_results;
    r.progress = options.progress;
    r.experts.resize(snap.experts.size());
    r.classified = snap.process.reach_classified;
    r.count_reachable = options.count_reachable;

    std::vector<LeakGroup> all;
    uint64_t blocks = 0, grouped = 0;
    for (const model::Expert &e : snap.experts) blocks += e.blocks.size();
    if (options.progress) options.progress("grouping blocks", 0, blocks);
    for (size_t i = 0; i < snap.experts.size(); ++i) {
        const model::Expert &e = snap.experts[i];
        if (options.progress) options.progress("grouping blocks", grouped, blocks);
        grouped += e.blocks.size();
        group_leaked(e, static_cast<uint32_t>(i), all);
        // A closed key's blocks are the heap blocks its close left behind: leaks of that expert
        // whatever their reach (the reach rule is for module keys and keys still open).
        if (key_open(e) || !e.blocks.empty())
            group_outstanding(e, static_cast<uint32_t>(i), r.classified, options.count_reachable || !key_open(e), all,
                              r.experts[i], r);
    }

    const Suppressions *sup = options.suppressions;
    if (sup) r.rule_use.resize(sup->rules().size());
    // Many keys share stacks: match each stack against the rules once.
    std::unordered_map<uint32_t, int> verdicts;
    for (LeakGroup &g : all) {
        if (g.kind == LeakKind::Leaked && g.blocks == 1) {
            g.sizes_known = true;
            g.min_size = g.max_size = g.bytes;
        }
        if (sup && !sup->empty()) {
            auto [it, fresh] = verdicts.try_emplace(g.stack, -1);
            if (fresh) it->second = sup->match(snap, g.stack);
            g.suppressed_by = it->second;
        }
        ExpertTotals &t = r.experts[g.expert];
        if (g.suppressed_by >= 0) {
            r.rule_use[static_cast<size_t>(g.suppressed_by)].add(g);
            r.suppressed_total.add(g);
            t.suppressed.add(g);
            r.suppressed.push_back(g);
        } else {
            (g.kind == LeakKind::Leaked ? r.leaked : r.outstanding).add(g);
            (g.kind == LeakKind::Leaked ? t.leaked : t.outstanding).add(g);
            r.leaks.push_back(g);
        }
    }
    std::sort(r.leaks.begin(), r.leaks.end(), bigger);
    std::sort(r.suppressed.begin(), r.suppressed.end(), bigger);
    r.budgets = options.budgets;
    detail::check_budgets(r);
    return r;
}

LeakCount count_leaks(const model::Snapshot &snap, const Suppressions *suppressions) {
    Options options;
    options.suppressions = suppressions;
    return count_leaks(snap, options);
}

LeakCount count_leaks(const model::Snapshot &snap, const Options &options) {
    LeakReport r = build_report(snap, options);
    LeakCount c{r.leaked, r.outstanding, r.suppressed_total, {}};
    for (const BudgetCheck &b : r.budget_checks)
        if (b.over()) c.over_budget.push_back(b);
    return c;
}

int exit_code_for(const LeakCount &count, bool fail_on_leak) {
    if (!count.over_budget.empty()) return kExitLeaks;
    return fail_on_leak && count.unsuppressed() > 0 ? kExitLeaks : kExitOk;
}

int exit_code_for(const model::Snapshot &snap, const EnvSettings &settings) {
    if (!settings.fail_on_leak && settings.budgets.empty()) return kExitOk;
    return exit_code_for(count_leaks(snap, settings.options()), settings.fail_on_leak);
}

} // namespace nm::report

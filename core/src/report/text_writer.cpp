// text_writer.cpp - the human report: leaks by stack, biggest first, in LeakSanitizer's shape.
#include <nmleak/report.hpp>
#include <nmleak/sys.hpp>

#include "report/render.hpp"

#include <algorithm>
#include <array>
#include <ostream>
#include <vector>

namespace nm::report {
namespace {

using detail::plural;

std::string bytes_in_blocks(uint64_t bytes, uint64_t blocks) {
    return plural(bytes, "byte", "bytes") + " in " + plural(blocks, "block", "blocks");
}

std::string when(uint64_t ms) { return "+" + std::to_string(ms) + " ms"; }

void header(std::string &o, const LeakReport &r) {
    const model::Process &p = r.snapshot->process;
    const std::string tag = "==" + std::to_string(p.pid) + "==";
    o += "=================================================================\n";
    if (r.unsuppressed_stacks() > 0)
        o += tag + "ERROR: nmleak: detected memory leaks\n";
    else
        o += tag + "nmleak: no unsuppressed leaks\n";
    o += "process " + std::to_string(p.pid);
    if (!p.command.empty()) o += ": " + text::escape(p.command);
    o += '\n';
    o += "host " + (p.hostname.empty() ? std::string("?") : text::escape(p.hostname)) +
         ", tracking since " +
         detail::utc_time(p.start_unix_ms) + ", snapshot at " + when(p.snapshot_ms) +
         ", stack depth " + std::to_string(p.stack_depth) + "\n";
}

void leak_section(std::string &o, detail::StackPrinter &sp, const LeakReport &r, LeakKind kind) {
    const model::Snapshot &s = *r.snapshot;
    bool first = true;
    detail::Ticker ticker(r, kind == LeakKind::Leaked ? "writing leaks" : "writing outstanding blocks",
                          r.leaks.size());
    for (const LeakGroup &g : r.leaks) {
        ticker.tick();
        if (g.kind != kind) continue;
        if (first) {
            o += kind == LeakKind::Leaked ? "\nLeaks (keys closed with outcome done):\n"
                 : s.process.heap_tracked ? "\nStill outstanding (keys still open, and heap blocks closed keys left behind):\n"
                                          : "\nStill outstanding (keys still open):\n";
            first = false;
        }
        const model::Expert &e = s.experts[g.expert];
        o += '\n';
        o += bytes_in_blocks(g.bytes, g.blocks);
        if (g.blocks > 1 && g.sizes_known)
            o += g.min_size == g.max_size
                     ? " of " + std::to_string(g.min_size) + " bytes"
                     : " of " + std::to_string(g.min_size) + ".." + std::to_string(g.max_size) +
                           " bytes";
        const bool module = e.kind == model::KeyKind::Module;
        o += (module         ? " allocated in module "
               : g.heap      ? " allocated on the heap (outside the API) by expert "
                             : " allocated by expert ") +
             detail::expert_label(e);
        if (kind == LeakKind::Leaked && g.heap && !module) o += ", freed at its close (nothing pointed to it)";
        if (kind == LeakKind::Outstanding && !module)
            o += e.state == model::ExpertState::Closed ? std::string(", left behind at its close")
                                                       : std::string(", ") + detail::state_name(e.state);
        if (g.reach != model::Reach::Unknown) o += std::string(", ") + detail::reach_phrase(g.reach);
        o += ":\n";
        sp.print(o, g.stack, "    ");
    }
}

bool left_anything(const model::Cleanup &c) {
    return c.left_blocks || c.reclaimed_left_blocks || !c.reclaim_note.empty();
}

// Heap blocks of the key still live at its close: listed there, not freed, but those the opt-in
// reclaim found nothing pointing to.
void left_behind(std::string &o, detail::StackPrinter &sp, const model::Cleanup &c) {
    if (c.left_blocks) {
        o += "    left behind (heap blocks outside the API, not freed): " + bytes_in_blocks(c.left_bytes, c.left_blocks) + "\n";
        for (const model::StackGroup &g : c.left_stacks) {
            o += "      " + bytes_in_blocks(g.bytes, g.blocks) + " from:\n";
            sp.print(o, g.stack, "          ");
        }
    }
    if (c.reclaimed_left_blocks) {
        o += "    reclaimed left behind (heap blocks nothing pointed to, freed at the close): " +
             bytes_in_blocks(c.reclaimed_left_bytes, c.reclaimed_left_blocks) + "\n";
        for (const model::StackGroup &g : c.reclaimed_left_stacks) {
            o += "      " + bytes_in_blocks(g.bytes, g.blocks) + " from:\n";
            sp.print(o, g.stack, "          ");
        }
    }
    if (!c.reclaim_note.empty()) o += "    left-behind reclaim: " + text::escape(c.reclaim_note) + "\n";
}

// Done closes that left heap blocks behind (forced cleanups list theirs in cleanup_section).
void done_left_section(std::string &o, detail::StackPrinter &sp, const LeakReport &r) {
    bool first = true;
    for (const model::Expert &e : r.snapshot->experts)
        for (const model::Cleanup &c : e.cleanups) {
            if (c.outcome != model::Outcome::Done || !left_anything(c)) continue;
            if (first) {
                o += "\nLeft behind at close (keys closed with outcome done; the blocks still live are above):\n";
                first = false;
            }
            o += "\nexpert " + detail::expert_label(e) + " closed as done at " + when(c.time_ms) + "\n";
            left_behind(o, sp, c);
        }
}

void cleanup_section(std::string &o, detail::StackPrinter &sp, const LeakReport &r) {
    const model::Snapshot &s = *r.snapshot;
    bool first = true;
    for (const model::Expert &e : s.experts) {
        for (const model::Cleanup &c : e.cleanups) {
            if (c.outcome == model::Outcome::Done) continue;
            if (first) {
                o += "\nForced cleanups:\n";
                first = false;
            }
            o += "\nexpert " + detail::expert_label(e) + " closed as " +
                 detail::outcome_name(c.outcome) + " at " + when(c.time_ms) + ": reclaimed " +
                 bytes_in_blocks(c.bytes, c.blocks) + "\n";
            if (!e.outcome_detail.empty()) o += "    reason: " + text::escape(e.outcome_detail) + "\n";
            for (const model::StackGroup &g : c.stacks) {
                o += "    " + bytes_in_blocks(g.bytes, g.blocks) + " from:\n";
                sp.print(o, g.stack, "        ");
            }
            left_behind(o, sp, c);
            if (e.crash_signal != 0) {
                o += "    crash stack (" + sys::signal_name(e.crash_signal) + " at " +
                     detail::hex(e.crash_address) + "):\n";
                sp.print(o, e.crash_stack, "        ");
            }
        }
    }
}

void misuse_section(std::string &o, detail::StackPrinter &sp, const LeakReport &r) {
    const model::Snapshot &s = *r.snapshot;
    uint64_t total = 0, kept = 0;
    for (const model::Expert &e : s.experts) {
        total += std::max<uint64_t>(e.misuse_count, e.misuse.size());
        kept += e.misuse.size();
    }
    if (total == 0) return;
    o += "\nMisuse (" + plural(total, "event", "events");
    if (kept < total) o += ", the first " + std::to_string(kept) + " kept";
    o += "):\n";
    for (const model::Expert &e : s.experts) {
        for (const model::Misuse &m : e.misuse) {
            o += "\n" + std::string(detail::misuse_phrase(m.kind)) + ": " +
                 (m.function.empty() ? std::string("?") : text::escape(m.function)) + "(" +
                 detail::padded_hex(m.address) + ") by expert " + detail::expert_label(e);
            if (!m.owner.empty()) o += ", block owned by " + text::escape(m.owner);
            o += " at " + when(m.time_ms) + ":\n";
            sp.print(o, m.stack, "    ");
        }
    }
}

void expert_table(std::string &o, const LeakReport &r) {
    const model::Snapshot &s = *r.snapshot;
    if (s.experts.empty()) {
        o += "\nExperts: none\n";
        return;
    }
    // With the whole heap tracked: each key's kind, and its heap bytes beside its API bytes.
    const bool heap = s.process.heap_tracked;
    using Row = std::vector<std::string>;
    std::vector<Row> rows;
    rows.push_back({"key", "name", "state", "outcome", "live blocks", "live bytes", "peak bytes",
                    "allocs", "reallocs", "frees", "misuse", "leaked bytes", "outstanding bytes",
                    "reclaimed bytes"});
    if (heap) {
        rows[0].insert(rows[0].begin() + 2, "kind");
        rows[0].insert(rows[0].begin() + 7, "heap bytes");
    }
    for (size_t i = 0; i < s.experts.size(); ++i) {
        const model::Expert &e = s.experts[i];
        const ExpertTotals &t = r.experts[i];
        uint64_t cleaned = 0;
        for (const model::Cleanup &c : e.cleanups)
            if (c.outcome != model::Outcome::Done) cleaned += c.bytes;
        Row row{std::to_string(e.id), e.name.empty() ? "<unnamed>" : text::escape(e.name),
                detail::state_name(e.state),
                e.state == model::ExpertState::Closed ? detail::outcome_name(e.outcome) : "-",
                std::to_string(e.live_blocks), std::to_string(e.live_bytes),
                std::to_string(e.peak_bytes), std::to_string(e.allocs),
                std::to_string(e.reallocs), std::to_string(e.frees),
                std::to_string(std::max<uint64_t>(e.misuse_count, e.misuse.size())),
                std::to_string(t.leaked.bytes), std::to_string(t.outstanding.bytes),
                std::to_string(cleaned)};
        if (heap) {
            row.insert(row.begin() + 2, model::to_string(e.kind));
            row.insert(row.begin() + 7, std::to_string(e.heap_bytes));
        }
        rows.push_back(std::move(row));
    }
    const size_t cols = rows[0].size();
    const size_t last_left = heap ? 4 : 3; // name, (kind,) state and outcome read left to right
    std::vector<size_t> width(cols, 0);
    for (const Row &row : rows)
        for (size_t c = 0; c < cols; ++c) width[c] = std::max(width[c], row[c].size());
    o += "\nExperts:\n";
    for (const Row &row : rows) {
        std::string line = " ";
        for (size_t c = 0; c < cols; ++c) {
            // Numbers line up on the right.
            const bool left = c >= 1 && c <= last_left;
            const std::string pad(width[c] - row[c].size(), ' ');
            line += ' ';
            line += left ? row[c] + pad : pad + row[c];
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        o += line + '\n';
    }
    for (const model::Expert &e : s.experts) {
        std::string notes;
        if (e.status.percent >= 0 || !e.status.text.empty() || e.status.status != 0)
            notes += "status " + std::to_string(e.status.status) + "/" +
                     std::to_string(e.status.substatus) +
                     (e.status.text.empty() ? std::string() : " \"" + text::escape(e.status.text) + "\"") +
                     (e.status.percent >= 0 ? " " + std::to_string(e.status.percent) + "%" : "");
        if (!e.outcome_detail.empty())
            notes += (notes.empty() ? "" : "; ") + std::string("ended: ") + text::escape(e.outcome_detail);
        if (!notes.empty()) o += "  " + detail::expert_label(e) + ": " + notes + "\n";
    }
}

// Per key, its live bytes by class: only in a snapshot classified by reachability.
void reach_section(std::string &o, const LeakReport &r) {
    if (!r.classified) return;
    const model::Snapshot &s = *r.snapshot;
    o += "\nReachability of live blocks (definitely and indirectly lost blocks are leaks";
    o += r.count_reachable ? "; still reachable ones count too, NMLEAK_LEAKS=all):\n"
                           : "; still reachable ones do not count unless NMLEAK_LEAKS=all):\n";
    if (!s.process.reach_note.empty()) o += "  note: " + s.process.reach_note + "\n";
    bool any = false;
    for (size_t i = 0; i < s.experts.size(); ++i) {
        const ReachTotals &t = r.experts[i].reach;
        uint64_t blocks = 0;
        for (uint64_t b : t.blocks) blocks += b;
        if (!blocks) continue;
        any = true;
        auto cls = [&](model::Reach c) {
            const auto k = static_cast<size_t>(c);
            return plural(t.bytes[k], "byte", "bytes") + " in " + plural(t.blocks[k], "block", "blocks");
        };
        o += "  " + detail::expert_label(s.experts[i]) + ": definitely lost " + cls(model::Reach::DefinitelyLost) +
             ", indirectly lost " + cls(model::Reach::IndirectlyLost) + ", still reachable " +
             cls(model::Reach::Reachable);
        if (t.blocks[0]) o += ", not classified " + cls(model::Reach::Unknown);
        o += '\n';
    }
    if (!any) o += "  no live blocks\n";
}

void suppression_section(std::string &o, const LeakReport &r) {
    if (!r.suppressions || r.suppressions->empty()) return;
    o += "\nSuppressions used:\n  stacks  blocks       bytes  pattern\n";
    const auto &rules = r.suppressions->rules();
    for (size_t i = 0; i < rules.size(); ++i) {
        const Totals &t = r.rule_use[i];
        char buf[64];
        std::snprintf(buf, sizeof buf, "  %6llu  %6llu  %10llu  ",
                      static_cast<unsigned long long>(t.stacks),
                      static_cast<unsigned long long>(t.blocks),
                      static_cast<unsigned long long>(t.bytes));
        o += buf;
        o += "leak:" + text::escape(rules[i].pattern);
        if (t.stacks == 0) o += "  (matched nothing)";
        o += '\n';
    }
}

void budget_section(std::string &o, const LeakReport &r) {
    if (r.budgets.empty()) return;
    const size_t over = r.budgets_over();
    o += "\nBudgets (" + (over ? plural(over, "key", "keys") + " over" : std::string("all met")) + "):\n";
    for (const BudgetCheck &c : r.budget_checks)
        o += std::string(c.over() ? "  OVER  " : c.key.empty() ? "  ----  " : "  ok    ") +
             describe(c, r.budgets) + "\n";
}

void summary(std::string &o, const LeakReport &r) {
    const model::Snapshot &s = *r.snapshot;
    uint64_t cleanups = 0, cleaned = 0, misuse = 0;
    for (const model::Expert &e : s.experts) {
        for (const model::Cleanup &c : e.cleanups)
            if (c.outcome != model::Outcome::Done) {
                ++cleanups;
                cleaned += c.bytes + c.reclaimed_left_bytes;
            }
        misuse += std::max<uint64_t>(e.misuse_count, e.misuse.size());
    }
    o += "\nSUMMARY: nmleak: " + plural(r.leaked.bytes, "byte", "bytes") + " leaked in " +
         plural(r.leaked.blocks, "block", "blocks") + " (" +
         plural(r.leaked.stacks, "stack", "stacks") + "); " +
         plural(r.outstanding.bytes, "byte", "bytes") + " still outstanding in " +
         plural(r.outstanding.blocks, "block", "blocks") + " (" +
         plural(r.outstanding.stacks, "stack", "stacks") + "); " +
         plural(r.suppressed_total.bytes, "byte", "bytes") + " in " +
         plural(r.suppressed_total.blocks, "block", "blocks") + " suppressed; " +
         plural(cleaned, "byte", "bytes") + " reclaimed by " +
         plural(cleanups, "forced cleanup", "forced cleanups") + "; " +
         plural(misuse, "misuse event", "misuse events") +
         (r.classified && !r.count_reachable
              ? "; " + plural(r.reachable.bytes, "byte", "bytes") + " still reachable in " +
                    plural(r.reachable.blocks, "block", "blocks") + " (not leaks)"
              : std::string()) +
         ".\n";
    if (const size_t over = r.budgets_over())
        o += "BUDGET: nmleak: " + plural(over, "key", "keys") + " over budget: " +
             describe(*std::find_if(r.budget_checks.begin(), r.budget_checks.end(),
                                    [](const BudgetCheck &c) { return c.over(); }),
                      r.budgets) +
             (over > 1 ? "; and more above" : "") + ".\n";
}

} // namespace

namespace detail {
void render_text(std::string &out, const LeakReport &r) {
    std::string o;
    header(o, r);
    detail::StackPrinter sp(*r.snapshot);
    leak_section(o, sp, r, LeakKind::Leaked);
    leak_section(o, sp, r, LeakKind::Outstanding);
    cleanup_section(o, sp, r);
    done_left_section(o, sp, r);
    misuse_section(o, sp, r);
    detail::render_events_text(o, *r.snapshot);
    expert_table(o, r);
    reach_section(o, r);
    suppression_section(o, r);
    budget_section(o, r);
    summary(o, r);
    // Every field above is escaped where it goes in; this pass guarantees that nothing missed
    // reaches the terminal raw (a no-op scan for clean text).
    if (text::is_clean(o, true)) out += o;
    else out += text::escape_lines(o);
}
} // namespace detail

void write_text(std::ostream &out, const LeakReport &r) {
    std::string o;
    detail::render_text(o, r);
    out.write(o.data(), static_cast<std::streamsize>(o.size()));
}

} // namespace nm::report

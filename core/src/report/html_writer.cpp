// html_writer.cpp - one self-contained HTML page: key table, leaks and cleanups by stack, and an
// interactive flame graph.
//
// The tables are plain HTML, readable with scripts off; the flame graph is drawn by the inline
// script (html_assets.hpp) from a call tree computed here, so the browser only lays it out.
#include <nmleak/report.hpp>
#include <nmleak/sys.hpp>

#include "report/html_assets.hpp"
#include "report/json_support.hpp"
#include "report/render.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>
#include <ostream>
#include <unordered_map>

#ifndef NMLEAK_VERSION
#define NMLEAK_VERSION "0.1.0"
#endif

namespace nm::report {
namespace {

// A big snapshot has 10^4 leaking stacks; listing every frame of each would make a page of tens
// of megabytes that browsers open slowly. The biggest are listed; the flame graph and the key
// table still count every one.
constexpr size_t kMaxListedStacks = 500;

enum Column : size_t { kOutstanding = 0, kLeaked = 1, kReclaimed = 2, kColumns = 3 };

void escape(std::string &o, std::string_view s) {
    for (char c : s) {
        switch (c) {
        case '&': o += "&amp;"; break;
        case '<': o += "&lt;"; break;
        case '>': o += "&gt;"; break;
        case '"': o += "&quot;"; break;
        case '\'': o += "&#39;"; break;
        default: o += c;
        }
    }
}

std::string esc(std::string_view s) {
    std::string o;
    escape(o, s);
    return o;
}

std::string human(uint64_t bytes) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
    else std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : "%.1f %s", v, units[u]);
    return buf;
}

// A numeric cell: the sort key in data-v, the figure shown with thousands separators.
void num_cell(std::string &o, uint64_t v, const char *cls = nullptr) {
    std::string digits = std::to_string(v), shown;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) shown += ',';
        shown += digits[i];
    }
    o += "<td";
    if (cls) o += std::string(" class=\"") + cls + "\"";
    o += " data-v=\"" + digits + "\">" + shown + "</td>";
}

// The flame-graph call tree: root, key names, then frames outermost first.
class CallTree {
public:
    explicit CallTree(const model::Snapshot &s) : s_(s) {
        nodes_.push_back({-1, -1, {}});
        frame_info_.assign(s.frames.size(), -1);
    }

    void add(const model::Expert &e, uint32_t stack, Column col, uint64_t bytes) {
        if (bytes == 0) return;
        int32_t n = 0;
        nodes_[0].v[col] += bytes;
        n = child(n, key_frame(e.name.empty() ? "<unnamed>" : e.name));
        nodes_[static_cast<size_t>(n)].v[col] += bytes;
        const model::Stack &st = detail::stack_at(s_, stack);
        if (st.frames.empty()) {
            n = child(n, named_frame("<no stack recorded>", "", ""));
            nodes_[static_cast<size_t>(n)].v[col] += bytes;
        }
        for (size_t i = st.frames.size(); i-- > 0;) {
            n = child(n, frame(st.frames[i]));
            nodes_[static_cast<size_t>(n)].v[col] += bytes;
        }
    }

    uint64_t total(Column c) const { return nodes_[0].v[c]; }

    void json(std::string &o) const {
        o += "\"frames\":[";
        for (size_t i = 0; i < frames_.size(); ++i) {
            if (i) o += ',';
            const Info &f = frames_[i];
            o += '[' + detail::json_string(f.label) + ',' + detail::json_string(f.where) + ',' +
                 detail::json_string(f.module) + (f.key ? ",1]" : ",0]");
        }
        o += "],\n\"nodes\":[";
        for (size_t i = 0; i < nodes_.size(); ++i) {
            const Node &n = nodes_[i];
            if (i) o += (i % 8 == 0 ? ",\n" : ",");
            o += '[' + std::to_string(n.parent) + ',' + std::to_string(n.frame) + ',' +
                 std::to_string(n.v[0]) + ',' + std::to_string(n.v[1]) + ',' + std::to_string(n.v[2]) + ']';
        }
        o += ']';
    }

private:
    struct Node {
        int32_t parent, frame;
        std::array<uint64_t, kColumns> v;
    };
    struct Info {
        std::string label, where, module;
        bool key = false;
    };

    int32_t child(int32_t parent, int32_t frame) {
        const uint64_t k = uint64_t{static_cast<uint32_t>(parent)} << 32 | static_cast<uint32_t>(frame);
        auto [it, fresh] = children_.try_emplace(k, static_cast<int32_t>(nodes_.size()));
        if (fresh) nodes_.push_back({parent, frame, {}});
        return it->second;
    }

    int32_t named_frame(const std::string &label, const std::string &where, const std::string &module,
                        bool key = false) {
        const std::string id = (key ? "k|" : "f|") + label + '|' + where + '|' + module;
        auto [it, fresh] = info_index_.try_emplace(id, static_cast<int32_t>(frames_.size()));
        if (fresh) frames_.push_back({label, where, module, key});
        return it->second;
    }

    int32_t key_frame(const std::string &name) { return named_frame(name, "", "", true); }

    // Frames with the same function, file, line and module (inlined copies, other addresses of
    // one call site) are one frame of the graph.
    int32_t frame(uint32_t id) {
        if (id < frame_info_.size() && frame_info_[id] >= 0) return frame_info_[id];
        const model::Frame &f = detail::frame_at(s_, id);
        std::string where = f.file;
        if (!where.empty() && f.line) where += ':' + std::to_string(f.line);
        const int32_t info = named_frame(detail::frame_label(f), where, f.module);
        if (id < frame_info_.size()) frame_info_[id] = info;
        return info;
    }

    const model::Snapshot &s_;
    std::vector<Node> nodes_;
    std::vector<Info> frames_;
    std::vector<int32_t> frame_info_;
    std::unordered_map<uint64_t, int32_t> children_;
    std::unordered_map<std::string, int32_t> info_index_;
};

class Page {
public:
    explicit Page(const LeakReport &r) : r_(r), s_(*r.snapshot), tree_(s_) {}

    void render(std::string &o) {
        reclaimed_.assign(s_.experts.size(), 0);
        {
            detail::Ticker ticker(r_, "building the flame graph", r_.leaks.size());
            for (const LeakGroup &g : r_.leaks) {
                ticker.tick();
                tree_.add(s_.experts[g.expert], g.stack, g.kind == LeakKind::Leaked ? kLeaked : kOutstanding,
                      g.bytes);
            }
        }
        for (size_t i = 0; i < s_.experts.size(); ++i)
            for (const model::Cleanup &c : s_.experts[i].cleanups) {
                if (c.outcome == model::Outcome::Done) continue;
                uint64_t bytes = 0;
                for (const model::StackGroup &g : c.stacks) {
                    tree_.add(s_.experts[i], g.stack, kReclaimed, g.bytes);
                    bytes += g.bytes;
                }
                if (c.bytes > bytes) tree_.add(s_.experts[i], 0, kReclaimed, c.bytes - bytes);
                for (const model::StackGroup &g : c.reclaimed_left_stacks) // the opt-in heap reclaim
                    tree_.add(s_.experts[i], g.stack, kReclaimed, g.bytes);
                reclaimed_[i] += c.bytes + c.reclaimed_left_bytes;
                reclaimed_total_ += c.bytes + c.reclaimed_left_bytes;
                ++cleanups_;
            }

        // The page's sections, in order; the progress line counts them.
        void (Page::*const sections[])(std::string &) = {&Page::head,      &Page::summary, &Page::flame,
                                                         &Page::keys,      &Page::leaks,   &Page::cleanups,
                                                         &Page::done_left, &Page::events,  &Page::suppressed,
                                                         &Page::data};
        {
            detail::Ticker ticker(r_, "writing HTML", std::size(sections));
            for (auto section : sections) {
                (this->*section)(o);
                ticker.tick();
            }
        }
        o += "<script>";
        o += detail::kHtmlScript;
        o += "</script>\n</body>\n</html>\n";
    }

private:
    void head(std::string &o) {
        const model::Process &p = s_.process;
        o += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             // Nothing may be fetched: the report is one file, and opening it must not reach out.
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
             "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
             "<meta name=\"generator\" content=\"nmleak " NMLEAK_VERSION "\">\n<title>nmleak: ";
        escape(o, r_.unsuppressed_stacks() ? "leaks in " : "report for ");
        escape(o, p.command.empty() ? "pid " + std::to_string(p.pid) : std::string(detail::basename(p.executable.empty() ? p.command : p.executable)));
        o += "</title>\n<style>";
        o += detail::kHtmlStyle;
        o += "</style>\n</head>\n<body>\n<h1>nmleak leak report</h1>\n<p class=\"meta\">process ";
        o += std::to_string(p.pid);
        if (!p.command.empty()) o += ": <code>" + esc(p.command) + "</code>";
        o += "<br>host " + esc(p.hostname.empty() ? "?" : p.hostname) + ", tracking since " +
             esc(detail::utc_time(p.start_unix_ms)) + ", snapshot at +" + std::to_string(p.snapshot_ms) +
             " ms, stack depth " + std::to_string(p.stack_depth) + "</p>\n";
    }

    void card(std::string &o, const char *cls, const std::string &title, uint64_t bytes,
              const std::string &detail) {
        o += std::string("<div class=\"card ") + cls + "\">" + esc(title) + "<b>" + human(bytes) +
             "</b>" + esc(detail) + "</div>";
    }

    void summary(std::string &o) {
        o += "<div class=\"cards\" id=\"summary\">";
        card(o, "leak", "Leaked", r_.leaked.bytes,
             detail::plural(r_.leaked.blocks, "block", "blocks") + ", " +
                 detail::plural(r_.leaked.stacks, "stack", "stacks"));
        card(o, "out", "Still outstanding", r_.outstanding.bytes,
             detail::plural(r_.outstanding.blocks, "block", "blocks") + ", " +
                 detail::plural(r_.outstanding.stacks, "stack", "stacks"));
        card(o, "rec", "Reclaimed by forced cleanups", reclaimed_total_,
             detail::plural(cleanups_, "cleanup", "cleanups"));
        card(o, "", "Suppressed", r_.suppressed_total.bytes,
             detail::plural(r_.suppressed_total.stacks, "stack", "stacks"));
        o += "</div>\n";
        if (r_.budgets.empty()) return;
        o += "<h2 id=\"budgets\">Budgets</h2>\n<table id=\"budget-table\"><thead><tr><th class=\"l\">"
             "budget</th><th class=\"l\">key</th><th>leaked bytes</th><th>budget bytes</th><th>over by</th>"
             "<th class=\"l\">verdict</th></tr></thead><tbody>\n";
        for (const BudgetCheck &c : r_.budget_checks) {
            o += c.over() ? "<tr class=\"bad\">" : "<tr>";
            o += "<td><code>" + esc(r_.budgets[c.budget].text) + "</code></td><td class=\"l\">" +
                 (c.key.empty() ? std::string("<i>no key matched</i>") : esc(c.key)) + "</td>";
            num_cell(o, c.leaked);
            num_cell(o, c.limit);
            num_cell(o, c.excess(), "lk");
            o += std::string("<td class=\"l lk\">") + (c.over() ? "OVER" : c.key.empty() ? "-" : "ok") +
                 "</td></tr>\n";
        }
        o += "</tbody></table>\n";
    }

    void flame(std::string &o) {
        o += "<h2 id=\"flame\">Flame graph</h2>\n<div id=\"fg-controls\">"
             "<label>Bytes <select id=\"fg-metric\">"
             "<option value=\"1\">leaked</option><option value=\"0\">outstanding</option>"
             "<option value=\"2\">reclaimed (forced cleanups)</option></select></label>"
             "<label>Key <select id=\"fg-key\"><option value=\"0\">all keys</option></select></label>"
             "<input id=\"fg-search\" type=\"search\" placeholder=\"Search function, file or module\">"
             "<button id=\"fg-reset\" type=\"button\">Reset zoom</button>"
             "<span id=\"fg-match\"></span></div>\n"
             "<div id=\"fg-wrap\"><svg id=\"fg-svg\" xmlns=\"http://www.w3.org/2000/svg\" height=\"0\"></svg>"
             "<div id=\"fg-empty\" style=\"display:none\">Nothing of this kind to show.</div>"
             "<div id=\"fg-tip\"></div></div>\n"
             "<noscript><p class=\"note\">The flame graph needs JavaScript; the tables below do not."
             "</p></noscript>\n"
             "<p class=\"note\">Root at the top, callers above callees; a frame's width is its "
             "share of the bytes. Click a frame to zoom into it, an upper bar to zoom out; hover "
             "for its figures; the search matches function, file and module.</p>\n";
    }

    void keys(std::string &o) {
        o += "<h2 id=\"keys\">Keys</h2>\n<div class=\"scroll\"><table class=\"sortable\" id=\"key-table\"><thead><tr>"
             "<th class=\"l\">key</th><th>id</th><th class=\"l\">kind</th><th class=\"l\">state</th><th>live blocks</th>"
             "<th>live bytes</th>" +
             std::string(s_.process.heap_tracked ? "<th>heap bytes</th>" : "") +
             "<th>peak bytes</th><th>allocs</th><th>reallocs</th><th>frees</th>"
             "<th>misuse</th><th>leaked bytes</th><th>outstanding bytes</th><th>reclaimed bytes</th>"
             "<th>suppressed bytes</th></tr></thead>\n<tbody>\n";
        for (size_t i = 0; i < s_.experts.size(); ++i) {
            const model::Expert &e = s_.experts[i];
            const ExpertTotals &t = r_.experts[i];
            o += t.leaked.bytes + t.outstanding.bytes > 0 ? "<tr class=\"bad\">" : "<tr>";
            o += "<td>" + esc(e.name.empty() ? "<unnamed>" : e.name) + "</td>";
            num_cell(o, e.id);
            o += std::string("<td class=\"l\">") + model::to_string(e.kind) + "</td>";
            o += "<td class=\"l\">" + esc(model::state_label(e));
            if (!e.outcome_detail.empty()) o += ": " + esc(e.outcome_detail);
            o += "</td>";
            num_cell(o, e.live_blocks);
            num_cell(o, e.live_bytes);
            // Heap blocks (malloc/new): for an expert key outside the API, beside its API bytes.
            if (s_.process.heap_tracked) num_cell(o, e.heap_bytes);
            num_cell(o, e.peak_bytes);
            num_cell(o, e.allocs);
            num_cell(o, e.reallocs);
            num_cell(o, e.frees);
            num_cell(o, e.misuse_count);
            num_cell(o, t.leaked.bytes, "lk");
            num_cell(o, t.outstanding.bytes, "lk");
            num_cell(o, reclaimed_[i]);
            num_cell(o, t.suppressed.bytes);
            o += "</tr>\n";
        }
        o += "</tbody></table></div>\n";
    }

    void stack(std::string &o, uint32_t id) {
        const model::Stack &st = detail::stack_at(s_, id);
        o += "<ol class=\"stack\">";
        if (st.frames.empty()) o += "<li class=\"note\">no stack recorded (sizes-only mode)</li>";
        for (size_t i = 0; i < st.frames.size(); ++i) {
            const model::Frame &f = detail::frame_at(s_, st.frames[i]);
            o += "<li>#" + std::to_string(i) + " " + detail::padded_hex(f.address) + " in <span class=\"fn\">" +
                 esc(detail::frame_label(f)) + "</span>";
            if (!f.file.empty())
                o += " <span class=\"src\">" + esc(f.file) + (f.line ? ":" + std::to_string(f.line) : "") + "</span>";
            if (!f.module.empty())
                o += " <span class=\"mod\">(" + esc(f.module) + "+" + detail::hex(f.module_offset) + ")</span>";
            o += "</li>";
        }
        o += "</ol>";
    }

    void group(std::string &o, const LeakGroup &g, bool open) {
        const model::Expert &e = s_.experts[g.expert];
        const char *kind = detail::kind_name(g.kind);
        o += open ? "<details open><summary>" : "<details><summary>";
        o += std::string("<span class=\"tag ") + kind + "\">" + kind + "</span><b>" + human(g.bytes) +
             "</b> (" + detail::plural(g.bytes, "byte", "bytes") + ") in " +
             detail::plural(g.blocks, "block", "blocks");
        if (std::optional<uint64_t> size = g.block_size(); size && g.blocks > 1)
            o += " of " + std::to_string(*size) + " bytes";
        if (g.heap && e.kind == model::KeyKind::Expert) o += " on the heap (outside the API)";
        o += " by <b>" + esc(detail::expert_label(e)) + "</b>";
        if (g.kind == LeakKind::Outstanding && e.state == model::ExpertState::Closed) o += ", left behind at its close";
        const model::Stack &st = detail::stack_at(s_, g.stack);
        if (!st.frames.empty())
            o += " from <code>" + esc(detail::frame_label(detail::frame_at(s_, st.frames[0]))) + "</code>";
        o += "</summary>";
        stack(o, g.stack);
        o += "</details>\n";
    }

    void leaks(std::string &o) {
        o += "<h2 id=\"leaks\">Leaks by stack</h2>\n";
        if (r_.leaks.empty()) {
            o += "<p>No unsuppressed leaks.</p>\n";
            return;
        }
        o += "<p class=\"note\">Leaked: blocks of keys closed with outcome <i>done</i>. Outstanding: "
             "live blocks of keys still open (leaked if the process exits now).</p>\n";
        const size_t n = std::min(r_.leaks.size(), kMaxListedStacks);
        for (size_t i = 0; i < n; ++i) group(o, r_.leaks[i], i < 20);
        if (r_.leaks.size() > n)
            o += "<p class=\"note\">" + std::to_string(r_.leaks.size() - n) +
                 " smaller stacks are not listed here; the flame graph and the key table count "
                 "them, and the JSON, SARIF and pprof reports list them all.</p>\n";
    }

    // Heap blocks of the key still live at its close: listed there, not freed.
    // Those the opt-in reclaim found nothing pointing to were freed by the close.
    void left_behind(std::string &o, const model::Cleanup &c) {
        auto groups = [&](const char *what, uint64_t bytes, uint64_t blocks, const std::vector<model::StackGroup> &v) {
            o += std::string("<div>") + what + human(bytes) + " (" + detail::plural(bytes, "byte", "bytes") + ") in " +
                 detail::plural(blocks, "block", "blocks") + "</div>";
            size_t n = 0;
            for (const model::StackGroup &g : v) {
                if (++n > kMaxListedStacks) break;
                o += "<div>" + detail::plural(g.bytes, "byte", "bytes") + " in " +
                     detail::plural(g.blocks, "block", "blocks") + " from:</div>";
                stack(o, g.stack);
            }
        };
        if (c.left_blocks)
            groups("<b>left behind</b> (heap blocks outside the API, not freed): ", c.left_bytes, c.left_blocks,
                   c.left_stacks);
        if (c.reclaimed_left_blocks)
            groups("<b>reclaimed left behind</b> (heap blocks nothing pointed to, freed at the close): ",
                   c.reclaimed_left_bytes, c.reclaimed_left_blocks, c.reclaimed_left_stacks);
        if (!c.reclaim_note.empty()) o += "<div>left-behind reclaim: " + esc(c.reclaim_note) + "</div>";
    }

    // Done closes that left heap blocks behind (forced cleanups list theirs above).
    void done_left(std::string &o) {
        bool first = true;
        for (const model::Expert &e : s_.experts)
            for (const model::Cleanup &c : e.cleanups) {
                if (c.outcome != model::Outcome::Done ||
                    (c.left_blocks == 0 && c.reclaimed_left_blocks == 0 && c.reclaim_note.empty()))
                    continue;
                if (first) {
                    o += "<h2 id=\"left-behind\">Left behind at close</h2>\n<p class=\"note\">Keys closed with "
                         "outcome <i>done</i> whose heap blocks were still live; those still live now are listed "
                         "with the leaks.</p>\n";
                    first = false;
                }
                o += "<details open><summary><b>" + esc(detail::expert_label(e)) + "</b> closed as done at +" +
                     std::to_string(c.time_ms) + " ms</summary>";
                left_behind(o, c);
                o += "</details>\n";
            }
    }

    void cleanups(std::string &o) {
        o += "<h2 id=\"cleanups\">Forced cleanups</h2>\n";
        if (cleanups_ == 0) {
            o += "<p>No forced cleanups.</p>\n";
            return;
        }
        size_t listed = 0, left = 0;
        for (const model::Expert &e : s_.experts)
            for (const model::Cleanup &c : e.cleanups) {
                if (c.outcome == model::Outcome::Done) continue;
                o += "<details open><summary><span class=\"tag reclaimed\">" +
                     std::string(detail::outcome_name(c.outcome)) + "</span><b>" + esc(detail::expert_label(e)) +
                     "</b> at +" + std::to_string(c.time_ms) + " ms: reclaimed <b>" + human(c.bytes) +
                     "</b> (" + detail::plural(c.bytes, "byte", "bytes") + ") in " +
                     detail::plural(c.blocks, "block", "blocks") + "</summary>";
                if (!e.outcome_detail.empty()) o += "<p>reason: " + esc(e.outcome_detail) + "</p>";
                for (const model::StackGroup &g : c.stacks) {
                    if (listed >= kMaxListedStacks) {
                        ++left;
                        continue;
                    }
                    ++listed;
                    o += "<div>" + detail::plural(g.bytes, "byte", "bytes") + " in " +
                         detail::plural(g.blocks, "block", "blocks") + " from:</div>";
                    stack(o, g.stack);
                }
                left_behind(o, c);
                if (e.crash_signal != 0) {
                    o += "<div>crashed with " + esc(sys::signal_name(e.crash_signal)) + " at " +
                         detail::hex(e.crash_address) + ":</div>";
                    stack(o, e.crash_stack);
                }
                o += "</details>\n";
            }
        if (left) o += "<p class=\"note\">" + std::to_string(left) + " more cleanup stacks are not listed.</p>\n";
    }

    // The events experts submitted (ExpertSubmitEvent); nothing when there are none.
    void events(std::string &o) {
        uint64_t kept = 0, dropped = 0;
        for (const model::Expert &e : s_.experts) {
            kept += e.events.size();
            dropped += e.events_dropped;
        }
        if (kept == 0 && dropped == 0) return;
        o += "<h2 id=\"events\">Events</h2>\n";
        if (dropped) o += "<p class=\"note\">" + std::to_string(dropped) + " more events were dropped past the per-key limit.</p>\n";
        o += "<div class=\"scroll\"><table class=\"sortable\" id=\"event-table\"><thead><tr><th>time ms</th>"
             "<th class=\"l\">key</th><th class=\"l\">severity</th><th class=\"l\">source</th><th class=\"l\">event</th>"
             "<th>id</th><th class=\"l\">description</th><th class=\"l\">columns</th></tr></thead><tbody>\n";
        size_t listed = 0;
        for (const model::Expert &e : s_.experts)
            for (const model::Event &ev : e.events) {
                if (listed++ >= kMaxListedStacks) break;
                o += "<tr>";
                num_cell(o, ev.time_ms);
                o += "<td class=\"l\">" + esc(detail::expert_label(e)) + "</td><td class=\"l\">" +
                     esc(detail::severity_name(ev.severity)) + "</td><td class=\"l\">" + esc(ev.source) +
                     "</td><td class=\"l\">" + esc(ev.name) + "</td>";
                num_cell(o, ev.ident);
                o += "<td class=\"l\">" + esc(ev.description);
                if (!ev.justification_text.empty()) o += "<br><i>" + esc(ev.justification_text) + "</i>";
                o += "</td><td class=\"l\">";
                for (size_t i = 0; i < ev.columns.size(); ++i)
                    o += (i ? "; " : "") + esc(ev.columns[i].name) + ": <code>" + esc(ev.columns[i].value) + "</code>";
                o += "</td></tr>\n";
            }
        o += "</tbody></table></div>\n";
        if (listed > kMaxListedStacks)
            o += "<p class=\"note\">Only the first " + std::to_string(kMaxListedStacks) +
                 " events are listed; the JSON and SARIF reports have them all.</p>\n";
    }

    void suppressed(std::string &o) {
        if (!r_.suppressions || r_.suppressions->empty()) return;
        o += "<h2 id=\"suppressed\">Suppressions</h2>\n<table><thead><tr><th class=\"l\">rule</th>"
             "<th class=\"l\">from</th><th>stacks</th><th>blocks</th><th>bytes</th></tr></thead><tbody>\n";
        const auto &rules = r_.suppressions->rules();
        for (size_t i = 0; i < rules.size() && i < r_.rule_use.size(); ++i) {
            o += "<tr><td><code>leak:" + esc(rules[i].pattern) + "</code></td><td class=\"l\">" +
                 esc(rules[i].source) + ":" + std::to_string(rules[i].line) + "</td>";
            num_cell(o, r_.rule_use[i].stacks);
            num_cell(o, r_.rule_use[i].blocks);
            num_cell(o, r_.rule_use[i].bytes);
            o += "</tr>\n";
        }
        o += "</tbody></table>\n";
    }

    void data(std::string &o) {
        // The metric shown first: leaks if there are any, else what is outstanding, else cleanups.
        int metric = kLeaked;
        if (tree_.total(kLeaked) == 0)
            metric = tree_.total(kOutstanding) > 0 ? kOutstanding : tree_.total(kReclaimed) > 0 ? kReclaimed : kLeaked;
        std::string json = "{\"metrics\":[\"outstanding\",\"leaked\",\"reclaimed\"],\"metric\":" +
                           std::to_string(metric) + ",\n";
        tree_.json(json);
        json += "}";
        o += "<script type=\"application/json\" id=\"fg-data\">";
        // '<' only occurs inside JSON strings, where \u003c means the same: no "</script>" or
        // "<!--" in a name can end the element early.
        for (char c : json) {
            if (c == '<') o += "\\u003c";
            else o += c;
        }
        o += "</script>\n";
    }

    const LeakReport &r_;
    const model::Snapshot &s_;
    CallTree tree_;
    std::vector<uint64_t> reclaimed_;
    uint64_t reclaimed_total_ = 0, cleanups_ = 0;
};

} // namespace

void detail::render_html(std::string &out, const LeakReport &r) { Page(r).render(out); }

void write_html(std::ostream &out, const LeakReport &r) {
    std::string o;
    detail::render_html(o, r);
    out.write(o.data(), static_cast<std::streamsize>(o.size()));
}

} // namespace nm::report

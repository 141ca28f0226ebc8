// diff_writer.cpp - text and JSON output of a SnapshotDiff.
#include <nmleak/report_diff.hpp>

#include "report/json_support.hpp"
#include "report/render.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <ostream>

namespace nm::report {
namespace {

using detail::plural;
using json = nlohmann::ordered_json;

std::string signed_num(int64_t v) { return (v > 0 ? "+" : "") + std::to_string(v); }

std::string delta(uint64_t before, uint64_t after) {
    return signed_num(static_cast<int64_t>(after - before));
}

std::string side_title(const model::Snapshot &s) {
    return "pid " + std::to_string(s.process.pid) + " at +" + std::to_string(s.process.snapshot_ms) +
           " ms";
}

void expert_table(std::string &o, const SnapshotDiff &d) {
    constexpr size_t kCols = 10;
    using Row = std::array<std::string, kCols>;
    std::vector<Row> rows;
    rows.push_back({"name", "change", "keys", "retained before", "retained after", "delta",
                    "peak after", "allocs", "frees", "misuse"});
    for (const ExpertDiff &e : d.experts)
        rows.push_back({e.name.empty() ? "<unnamed>" : text::escape(e.name), to_string(e.change),
                        std::to_string(e.before.keys) + "->" + std::to_string(e.after.keys),
                        std::to_string(e.before.retained_bytes()),
                        std::to_string(e.after.retained_bytes()),
                        delta(e.before.retained_bytes(), e.after.retained_bytes()),
                        std::to_string(e.after.peak_bytes), delta(e.before.allocs, e.after.allocs),
                        delta(e.before.frees, e.after.frees), delta(e.before.misuse, e.after.misuse)});
    std::array<size_t, kCols> width{};
    for (const Row &row : rows)
        for (size_t c = 0; c < kCols; ++c) width[c] = std::max(width[c], row[c].size());
    for (const Row &row : rows) {
        std::string line = " ";
        for (size_t c = 0; c < kCols; ++c) {
            const std::string pad(width[c] - row[c].size(), ' ');
            line += ' ';
            line += c <= 1 ? row[c] + pad : pad + row[c];
        }
        while (line.back() == ' ') line.pop_back();
        o += line + '\n';
    }
}

struct Printers {
    detail::StackPrinter before, after;
};

void stack_entry(std::string &o, Printers &p, const StackDiff &s) {
    o += '\n';
    const int64_t blocks = s.delta_blocks();
    o += signed_num(s.delta_bytes()) + " bytes (" + signed_num(blocks) +
         (blocks == 1 || blocks == -1 ? " block" : " blocks") + ") in expert " +
         (s.expert.empty() ? std::string("<unnamed>") : text::escape(s.expert)) + " [" + to_string(s.change) +
         "]: " + std::to_string(s.before.bytes) + " -> " + std::to_string(s.after.bytes) +
         " bytes, " + std::to_string(s.before.blocks) + " -> " + std::to_string(s.after.blocks) +
         " blocks\n";
    (s.from_after ? p.after : p.before).print(o, s.stack, "    ");
}

} // namespace

void write_diff_text(std::ostream &out, const SnapshotDiff &d) {
    std::string o;
    o += "nmleak diff: before " + side_title(*d.before) + " -> after " + side_title(*d.after) + "\n";
    o += "retained = bytes leaked by keys closed with outcome done + bytes still outstanding in open "
         "keys\n";
    o += "\nExperts:\n";
    if (d.experts.empty()) o += "  none\n";
    else expert_table(o, d);

    Printers printers{detail::StackPrinter(*d.before), detail::StackPrinter(*d.after)};
    uint64_t grown = 0, shrunk = 0;
    int64_t grown_bytes = 0, shrunk_bytes = 0;
    for (const StackDiff &s : d.stacks) {
        const bool up = s.change == Change::New || s.change == Change::Grew;
        (up ? grown : shrunk) += 1;
        (up ? grown_bytes : shrunk_bytes) += s.delta_bytes();
    }
    if (grown) {
        o += "\nNew or grown (" + plural(grown, "stack", "stacks") + ", " + signed_num(grown_bytes) +
             " bytes):\n";
        for (const StackDiff &s : d.stacks)
            if (s.change == Change::New || s.change == Change::Grew) stack_entry(o, printers, s);
    }
    if (shrunk) {
        o += "\nShrunk or gone (" + plural(shrunk, "stack", "stacks") + ", " +
             signed_num(shrunk_bytes) + " bytes):\n";
        for (const StackDiff &s : d.stacks)
            if (s.change == Change::Shrank || s.change == Change::Gone) stack_entry(o, printers, s);
    }
    o += "\nSUMMARY: nmleak diff: " + signed_num(d.delta_bytes) + " bytes retained; " +
         std::to_string(d.count(Change::New)) + " new, " + std::to_string(d.count(Change::Grew)) +
         " grew, " + std::to_string(d.count(Change::Shrank)) + " shrank, " +
         std::to_string(d.count(Change::Gone)) + " gone, " + std::to_string(d.unchanged_stacks) +
         " unchanged " + (d.unchanged_stacks == 1 ? "stack" : "stacks") + ".\n";
    if (!text::is_clean(o, true)) o = text::escape_lines(o); // whatever a field above missed
    out.write(o.data(), static_cast<std::streamsize>(o.size()));
}

void write_diff_json(std::ostream &out, const SnapshotDiff &d) {
    auto side_json = [](const ExpertSide &s) {
        return json{{"keys", s.keys},
                    {"retained_blocks", s.retained_blocks()},
                    {"retained_bytes", s.retained_bytes()},
                    {"leaked_bytes", s.leaked.bytes},
                    {"outstanding_bytes", s.outstanding.bytes},
                    {"live_blocks", s.live_blocks},
                    {"live_bytes", s.live_bytes},
                    {"peak_bytes", s.peak_bytes},
                    {"allocs", s.allocs},
                    {"reallocs", s.reallocs},
                    {"frees", s.frees},
                    {"misuse", s.misuse},
                    {"cleanups", s.cleanups},
                    {"cleaned_bytes", s.cleaned_bytes}};
    };
    auto snap_json = [](const model::Snapshot &s) {
        return json{{"pid", s.process.pid},
                    {"command", s.process.command},
                    {"snapshot_ms", s.process.snapshot_ms}};
    };
    json experts = json::array();
    for (const ExpertDiff &e : d.experts)
        experts.push_back(json{{"name", e.name},
                               {"change", to_string(e.change)},
                               {"before", side_json(e.before)},
                               {"after", side_json(e.after)},
                               {"delta_bytes", static_cast<int64_t>(e.after.retained_bytes() -
                                                                    e.before.retained_bytes())}});
    detail::StackJsonCache before_stacks(*d.before), after_stacks(*d.after);
    json stacks = json::array();
    for (const StackDiff &s : d.stacks)
        stacks.push_back(json{{"expert", s.expert},
                              {"change", to_string(s.change)},
                              {"before", json{{"blocks", s.before.blocks}, {"bytes", s.before.bytes}}},
                              {"after", json{{"blocks", s.after.blocks}, {"bytes", s.after.bytes}}},
                              {"delta_bytes", s.delta_bytes()},
                              {"delta_blocks", s.delta_blocks()},
                              {"stack", (s.from_after ? after_stacks : before_stacks).get(s.stack)}});
    json doc{{"version", kJsonVersion},
             {"kind", "diff"},
             {"before", snap_json(*d.before)},
             {"after", snap_json(*d.after)},
             {"delta_bytes", d.delta_bytes},
             {"counts", json{{"new", d.count(Change::New)},
                             {"grew", d.count(Change::Grew)},
                             {"shrank", d.count(Change::Shrank)},
                             {"gone", d.count(Change::Gone)},
                             {"unchanged", d.unchanged_stacks}}},
             {"experts", std::move(experts)},
             {"stacks", std::move(stacks)}};
    std::string text;
    detail::dump(text, doc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

} // namespace nm::report

// folded_writer.cpp - folded stacks (`expert;outer;...;inner bytes`) for flamegraph.pl and inferno.
//
// The events experts submit (ExpertSubmitEvent) are not in this format: a folded line is a call
// stack weighed in bytes, and an event has neither a stack nor a size (counting events as bytes
// would corrupt the flame graph). Every other format carries them.
#include <nmleak/report.hpp>

#include "report/render.hpp"

#include <algorithm>
#include <ostream>
#include <unordered_map>

namespace nm::report {
namespace {

// flamegraph.pl splits frames on ';' and the count off the last space-separated field; a frame
// name must hold neither a ';' nor a line break (spaces are fine: "operator new(unsigned long)").
void append_frame(std::string &line, std::string_view name) {
    for (char c : name) line += (c == ';' ? ':' : (c == '\n' || c == '\r') ? ' ' : c);
}

} // namespace

void detail::render_folded(std::string &o, const LeakReport &r) {
    const model::Snapshot &s = *r.snapshot;
    // One line per leaking stack, rooted at the expert's name. Keys of one expert name that leak
    // from one stack fold into one line, as a flame graph would merge them anyway.
    std::vector<std::pair<std::string, uint64_t>> lines;
    std::unordered_map<std::string, size_t> index;
    for (const LeakGroup &g : r.leaks) {
        const model::Expert &e = s.experts[g.expert];
        std::string line;
        append_frame(line, e.name.empty() ? "<unnamed>" : e.name);
        const model::Stack &st = detail::stack_at(s, g.stack);
        if (st.frames.empty()) {
            line += ";<no stack>";
        }
        for (size_t i = st.frames.size(); i-- > 0;) {
            line += ';';
            append_frame(line, detail::frame_label(detail::frame_at(s, st.frames[i])));
        }
        auto [it, fresh] = index.try_emplace(line, lines.size());
        if (fresh) lines.emplace_back(std::move(line), 0);
        lines[it->second].second += g.bytes;
    }
    std::stable_sort(lines.begin(), lines.end(),
                     [](const auto &a, const auto &b) { return a.second > b.second; });
    for (const auto &[line, bytes] : lines) {
        o += line;
        o += ' ';
        o += std::to_string(bytes);
        o += '\n';
    }
}

void write_folded(std::ostream &out, const LeakReport &r) {
    std::string o;
    detail::render_folded(o, r);
    out.write(o.data(), static_cast<std::streamsize>(o.size()));
}

} // namespace nm::report

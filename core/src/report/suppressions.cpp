// suppressions.cpp - LeakSanitizer-style `leak:PATTERN` suppression files and their matching.
#include <nmleak/report.hpp>

#include "model/file_io.hpp"
#include "report/render.hpp"

#include <string>

namespace nm::report {
namespace {

std::string_view trim(std::string_view s) {
    const char *ws = " \t\r\n\v\f";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

// Glob with '*' only, anchored at both ends; iterative with one backtrack point, so it is linear in
// practice and never recurses on hostile patterns.
bool glob(std::string_view p, std::string_view t) {
    size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
    while (ti < t.size()) {
        if (pi < p.size() && p[pi] != '*' && p[pi] == t[ti]) {
            ++pi;
            ++ti;
        } else if (pi < p.size() && p[pi] == '*') {
            star = pi++;
            mark = ti;
        } else if (star != std::string_view::npos) {
            pi = star + 1;
            ti = ++mark;
        } else {
            return false;
        }
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

} // namespace

bool Suppressions::pattern_matches(std::string_view pattern, std::string_view text) {
    // LeakSanitizer's TemplateMatch: an empty text never matches; without '^' / '$' the pattern
    // may match anywhere in the text.
    if (text.empty()) return false;
    bool anchored_start = !pattern.empty() && pattern.front() == '^';
    if (anchored_start) pattern.remove_prefix(1);
    bool anchored_end = !pattern.empty() && pattern.back() == '$';
    if (anchored_end) pattern.remove_suffix(1);
    std::string g;
    g.reserve(pattern.size() + 2);
    if (!anchored_start) g += '*';
    g += pattern;
    if (!anchored_end) g += '*';
    return glob(g, text);
}

bool Suppressions::add_text(std::string_view text, std::string_view source, std::string *error) {
    std::vector<Rule> parsed;
    int line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (line.empty() || line.front() == '#') continue;
        auto where = [&] { return std::string(source) + ":" + std::to_string(line_no) + ": "; };
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            if (error)
                *error = where() + "expected 'leak:PATTERN', got '" + std::string(line) + "'";
            return false;
        }
        std::string_view type = trim(line.substr(0, colon));
        std::string_view pattern = trim(line.substr(colon + 1));
        if (type != "leak") {
            if (error)
                *error = where() + "unsupported suppression type '" + std::string(type) +
                         "' (nmleak understands only 'leak:')";
            return false;
        }
        if (pattern.empty()) {
            if (error) *error = where() + "empty pattern after 'leak:'";
            return false;
        }
        parsed.push_back(Rule{std::string(pattern), std::string(source), line_no});
    }
    rules_.insert(rules_.end(), parsed.begin(), parsed.end());
    return true;
}

bool Suppressions::add_file(const std::string &path, std::string *error) {
    std::vector<uint8_t> bytes;
    // Suppression files are hand-written: a megabyte-sized one is a wrong path, not a policy.
    if (!fileio::read_all(path, &bytes, uint64_t{16} << 20, error)) {
        if (error) *error = "suppressions: " + *error;
        return false;
    }
    std::string_view text(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    if (text.find('\0') != std::string_view::npos) {
        if (error) *error = "suppressions: '" + path + "' is not a text file";
        return false;
    }
    return add_text(text, path, error);
}

int Suppressions::match(const model::Snapshot &snap, uint32_t stack) const {
    if (rules_.empty()) return -1;
    const model::Stack &st = detail::stack_at(snap, stack);
    for (size_t r = 0; r < rules_.size(); ++r) {
        const std::string &p = rules_[r].pattern;
        for (uint32_t id : st.frames) {
            const model::Frame &f = detail::frame_at(snap, id);
            if (pattern_matches(p, f.function) || pattern_matches(p, f.file) ||
                pattern_matches(p, f.module))
                return static_cast<int>(r);
        }
    }
    return -1;
}

} // namespace nm::report

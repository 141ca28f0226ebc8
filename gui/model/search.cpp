// search.cpp - query parsing and the per-frame / per-stack match flags (search.hpp).
#include "search.hpp"

#include <algorithm>
#include <cctype>

namespace nm::gui {
namespace {

std::string lower(std::string s) {
    for (char &c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Case-insensitive substring test; `needle` is already lower case.
bool contains(const std::string &hay, const std::string &needle) {
    if (needle.size() > hay.size()) return false;
    auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
        return char(std::tolower(static_cast<unsigned char>(a))) == b;
    });
    return it != hay.end();
}

std::string trim(const std::string &s) {
    size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return s.substr(a, b - a);
}

} // namespace

SearchQuery parse_search(const std::string &text) {
    SearchQuery q;
    std::string t = trim(text);
    static const struct {
        const char *prefix;
        SearchQuery::Field field;
    } prefixes[] = {{"fn:", SearchQuery::Field::Function},
                    {"function:", SearchQuery::Field::Function},
                    {"file:", SearchQuery::Field::File},
                    {"module:", SearchQuery::Field::Module},
                    {"mod:", SearchQuery::Field::Module}};
    const std::string lt = lower(t);
    for (const auto &p : prefixes) {
        const size_t n = std::char_traits<char>::length(p.prefix);
        if (lt.compare(0, n, p.prefix) == 0) {
            q.field = p.field;
            t = trim(t.substr(n));
            break;
        }
    }
    q.needle = lower(t);
    return q;
}

bool frame_matches(const model::Frame &f, const SearchQuery &q) {
    if (q.empty()) return true;
    switch (q.field) {
    case SearchQuery::Field::Function: return contains(f.function, q.needle);
    case SearchQuery::Field::File: return contains(f.file, q.needle);
    case SearchQuery::Field::Module: return contains(f.module, q.needle);
    case SearchQuery::Field::Any:
        return contains(f.function, q.needle) || contains(f.file, q.needle) || contains(f.module, q.needle);
    }
    return false;
}

SearchIndex build_search(const model::Snapshot &snap, const std::string &text) {
    SearchIndex ix;
    ix.text = text;
    ix.query = parse_search(text);
    if (ix.query.empty()) return ix;
    ix.frames.assign(snap.frames.size(), 0);
    // Modules repeat across thousands of frames: decide each distinct module path once.
    std::vector<std::pair<const std::string *, bool>> module_memo;
    for (size_t i = 0; i < snap.frames.size(); ++i) {
        const model::Frame &f = snap.frames[i];
        bool m = false;
        if (ix.query.field == SearchQuery::Field::Module) {
            auto it = std::find_if(module_memo.begin(), module_memo.end(),
                                   [&](const auto &e) { return *e.first == f.module; });
            if (it == module_memo.end()) {
                module_memo.emplace_back(&f.module, contains(f.module, ix.query.needle));
                it = module_memo.end() - 1;
            }
            m = it->second;
        } else {
            m = frame_matches(f, ix.query);
        }
        ix.frames[i] = m;
        ix.frames_matched += m;
    }
    ix.stacks.assign(snap.stacks.size(), 0);
    for (size_t s = 0; s < snap.stacks.size(); ++s) {
        for (uint32_t f : snap.stacks[s].frames)
            if (f < ix.frames.size() && ix.frames[f]) {
                ix.stacks[s] = 1;
                ++ix.stacks_matched;
                break;
            }
    }
    return ix;
}

} // namespace nm::gui

// budgets.cpp - per-key CI budgets (`--limit NAME=SIZE`): parsing and the check against a report.
#include <nmleak/report.hpp>

#include <fnmatch.h>

#include <cctype>
#include <cmath>
#include <map>

namespace nm::report {

std::optional<uint64_t> parse_size(std::string_view text) {
    size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    const std::string number(text.substr(0, i));
    if (number.empty() || number.find('.') != number.rfind('.') || number == ".") return std::nullopt;
    std::string unit(text.substr(i));
    for (char &c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    // K, KB, KIB, K... all mean 1024: budgets are about memory, where nobody means 1000.
    if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
    if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
    double scale;
    if (unit.empty() || unit == "B") scale = 1;
    else if (unit == "K") scale = 1024.0;
    else if (unit == "M") scale = 1024.0 * 1024;
    else if (unit == "G") scale = 1024.0 * 1024 * 1024;
    else if (unit == "T") scale = 1024.0 * 1024 * 1024 * 1024;
    else return std::nullopt;
    if (number.find('.') == std::string::npos) {
        // Integers stay exact: "18446744073709551615" must not go through a double.
        uint64_t v = 0;
        for (char c : number) {
            const uint64_t d = static_cast<uint64_t>(c - '0');
            if (v > (UINT64_MAX - d) / 10) return std::nullopt;
            v = v * 10 + d;
        }
        const uint64_t s = static_cast<uint64_t>(scale);
        if (v != 0 && s > UINT64_MAX / v) return std::nullopt;
        return v * s;
    }
    const double v = std::strtod(number.c_str(), nullptr) * scale;
    if (!(v >= 0) || v >= 18446744073709551615.0) return std::nullopt;
    return static_cast<uint64_t>(std::llround(v));
}

bool parse_budget(std::string_view text, Budget *out, std::string *error) {
    const size_t eq = text.rfind('=');
    auto bad = [&](const std::string &why) {
        if (error) *error = "--limit '" + std::string(text) + "': " + why;
        return false;
    };
    if (eq == std::string_view::npos) return bad("expected NAME=SIZE, e.g. http=64K");
    if (eq == 0) return bad("NAME is empty (a key name or a glob such as 'http*' or '*')");
    std::optional<uint64_t> size = parse_size(text.substr(eq + 1));
    if (!size) return bad("SIZE must be a number of bytes with an optional K, M or G suffix");
    out->pattern = std::string(text.substr(0, eq));
    out->limit = *size;
    out->text = std::string(text);
    return true;
}

namespace detail {

// Fills r.budget_checks from r.leaks (which hold only unsuppressed groups).
void check_budgets(LeakReport &r) {
    r.budget_checks.clear();
    if (r.budgets.empty()) return;
    const model::Snapshot &s = *r.snapshot;
    // Bytes per key name; every key of a name is counted (one expert run many times).
    std::map<std::string, uint64_t> leaked;
    for (const model::Expert &e : s.experts) leaked.try_emplace(e.name, 0);
    for (const LeakGroup &g : r.leaks) leaked[s.experts[g.expert].name] += g.bytes;
    for (size_t b = 0; b < r.budgets.size(); ++b) {
        const Budget &budget = r.budgets[b];
        bool matched = false;
        for (const auto &[name, bytes] : leaked) {
            if (::fnmatch(budget.pattern.c_str(), name.c_str(), 0) != 0) continue;
            matched = true;
            r.budget_checks.push_back({b, name, budget.limit, bytes});
        }
        if (!matched) r.budget_checks.push_back({b, "", budget.limit, 0});
    }
}

} // namespace detail

size_t LeakReport::budgets_over() const {
    size_t n = 0;
    for (const BudgetCheck &c : budget_checks) n += c.over();
    return n;
}

std::string describe(const BudgetCheck &c, const std::vector<Budget> &budgets) {
    const std::string given = c.budget < budgets.size() ? budgets[c.budget].text : "?";
    if (c.key.empty()) return "budget --limit " + given + " matched no key";
    std::string s = "key '" + c.key + "' leaked " + std::to_string(c.leaked) + " bytes, ";
    if (c.over())
        s += std::to_string(c.excess()) + " over its budget of " + std::to_string(c.limit);
    else
        s += "within its budget of " + std::to_string(c.limit);
    return s + " (--limit " + given + ")";
}

} // namespace nm::report

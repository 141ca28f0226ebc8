// report.hpp - leak reports from a model::Snapshot: the leak model, suppressions and the writers.
//
// What is a leak:
//   - the blocks a key still held when it was closed with Outcome::Done (its Cleanup record):
//     LeakKind::Leaked;
//   - the live blocks of keys still open when the snapshot was taken: LeakKind::Outstanding
//     ("still outstanding": they may yet be freed; at process exit they are leaked too).
// A close with any other outcome is a forced cleanup, reported as such, never as a leak.
// When the snapshot was classified by reachability (Process::reach_classified), an outstanding
// block counts only when it is lost (definitely or indirectly), as LeakSanitizer counts: a block
// something still points to is "still reachable", totalled per key but not a leak, unless
// Options::count_reachable (NMLEAK_LEAKS=all, --leaks=all). Blocks a "done" close reclaimed are
// leaks either way (the contract).
// Leaks are grouped per key and per stack, biggest bytes first; suppressions remove groups whose
// stack matches a `leak:` pattern, and every writer reports how many were suppressed.
#pragma once

#include <nmleak/model.hpp>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nm::report {

// Process exit codes shared by `nmleak` and the at-exit report.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;  // bad usage or unreadable input
inline constexpr int kExitLeaks = 23; // unsuppressed leaks remain and fail-on-leak was asked, or
                                      // a key leaked more than its budget

// Version of the JSON report schema (core/src/report/report.schema.json); bumped on any change
// that could break a reader, new optional fields excepted.
inline constexpr int kJsonVersion = 1;

enum class Format { Text, Json, Sarif, Folded, Snapshot, Pprof, Html };

// "text", "json", "sarif", "folded", "snapshot", "pprof", "html" (also "txt", "nmsnap", "htm").
std::optional<Format> parse_format(std::string_view name);
// By extension: .txt .json .sarif .folded .nmsnap .pb.gz .html (also .sarif.json, .pprof, .htm).
std::optional<Format> format_for_path(std::string_view path);
const char *to_string(Format f);

// LeakSanitizer-style suppressions: lines `leak:PATTERN`, `#` comments, blank lines ignored.
// PATTERN is matched against the function, the source file and the module of every frame of a
// leak's stack, as LeakSanitizer does: `*` matches any run of characters, a leading `^` or a
// trailing `$` anchors, and without anchors the pattern may match anywhere (a substring).
class Suppressions {
public:
    struct Rule {
        std::string pattern; // without the "leak:" prefix
        std::string source;  // file name (or "<text>") and line, for messages
        int line = 0;
    };

    // Parse errors name the source and line; no rule is added from a text that has an error.
    bool add_text(std::string_view text, std::string_view source, std::string *error);
    bool add_file(const std::string &path, std::string *error);

    const std::vector<Rule> &rules() const { return rules_; }
    bool empty() const { return rules_.empty(); }
    // Index of the first rule matching some frame of stack `stack`, or -1.
    int match(const model::Snapshot &snap, uint32_t stack) const;
    static bool pattern_matches(std::string_view pattern, std::string_view text);

private:
    std::vector<Rule> rules_;
};

enum class LeakKind : uint8_t { Leaked, Outstanding };

// Blocks of one key allocated from one stack.
struct LeakGroup {
    LeakKind kind = LeakKind::Leaked;
    uint32_t expert = 0; // index into Snapshot::experts
    uint32_t stack = 0;  // index into Snapshot::stacks
    uint64_t blocks = 0;
    uint64_t bytes = 0;
    // Smallest and largest block; known for outstanding blocks and for single-block groups (a
    // Cleanup record keeps only totals per stack).
    bool sizes_known = false;
    uint64_t min_size = 0;
    uint64_t max_size = 0;
    int suppressed_by = -1; // index into Suppressions::rules(), -1 when not suppressed
    // Heap blocks (malloc/new, whole heap); for an expert key they are outside the API (a closed
    // key's: left behind by its close). A stack is never both: the API's go through its calls.
    bool heap = false;
    // Outstanding groups of a classified snapshot hold blocks of one class; Unknown otherwise.
    model::Reach reach = model::Reach::Unknown;

    // The size of every block of the group when they are known to be equal.
    std::optional<uint64_t> block_size() const {
        if (sizes_known && min_size == max_size) return min_size;
        return std::nullopt;
    }
};

struct Totals {
    uint64_t stacks = 0; // groups
    uint64_t blocks = 0;
    uint64_t bytes = 0;
    void add(const LeakGroup &g) {
        ++stacks;
        blocks += g.blocks;
        bytes += g.bytes;
    }
};

// Live blocks and bytes per reachability class (indexed by model::Reach).
struct ReachTotals {
    uint64_t blocks[4] = {};
    uint64_t bytes[4] = {};
    void add(model::Reach r, uint64_t size) {
        const auto i = static_cast<size_t>(r) < 4 ? static_cast<size_t>(r) : 0;
        ++blocks[i];
        bytes[i] += size;
    }
};

struct ExpertTotals {
    Totals leaked, outstanding, suppressed;
    ReachTotals reach; // the key's live blocks by class (all Unknown when not classified)
};

// A CI budget: `--limit NAME=SIZE`. NAME is a key name or a glob (`*`, `?`, `[...]`, as the shell
// matches file names) matched against whole key names; SIZE is bytes with an optional K, M or G
// suffix (powers of 1024; "KiB", "MB", ... are read the same). Every key name a budget matches is
// held to it on its own: the bytes all keys of that name leaked (see Leaks above: leaked at their
// closes plus still outstanding, each block once, suppressed ones not) may not exceed SIZE.
struct Budget {
    std::string pattern;
    uint64_t limit = 0; // bytes
    std::string text;   // as given: "http=4K"
};
// False with *error ("'http=4Q': SIZE must be ...") for a malformed NAME=SIZE.
bool parse_budget(std::string_view text, Budget *out, std::string *error);
// "4096", "4K", "1.5M", "2GiB" -> bytes; nullopt when malformed or over 2^64.
std::optional<uint64_t> parse_size(std::string_view text);

// One key name held to one budget.
struct BudgetCheck {
    size_t budget = 0;     // index into Options::budgets
    std::string key;       // the key name; empty when the budget matched no key
    uint64_t limit = 0;
    uint64_t leaked = 0;   // bytes
    bool over() const { return leaked > limit; }
    uint64_t excess() const { return over() ? leaked - limit : 0; }
};

inline constexpr size_t kSarifDefaultResults = 5000;
inline constexpr size_t kSarifResultsLimit = 25000;

struct Options {
    const Suppressions *suppressions = nullptr; // none when null
    std::vector<Budget> budgets;
    // SARIF only: source files under this directory are written relative to it (uriBaseId
    // "SRCROOT"), as code-scanning services want repository-relative paths. Empty: absolute URIs.
    std::string source_root;
    // Count still-reachable outstanding blocks as leaks too (NMLEAK_LEAKS=all).
    bool count_reachable = false;
    // SARIF only: at most this many results (the biggest leaks), and never more than
    // kSarifResultsLimit; a notice in the run's invocation tells how many were left out.
    // GitHub code scanning stores 5,000 results per run and rejects runs above 25,000.
    size_t sarif_max_results = kSarifDefaultResults;
    // Long work reports its progress here (stage name, done, total) when set: the CLI draws a
    // progress line on a terminal. Called from the writing thread, at most every few thousand
    // items.
    std::function<void(std::string_view stage, uint64_t done, uint64_t total)> progress;
};

// The report model every writer formats. It points into the snapshot and the suppressions, which
// must outlive it.
struct LeakReport {
    const model::Snapshot *snapshot = nullptr;
    const Suppressions *suppressions = nullptr;
    std::string source_root; // from Options
    size_t sarif_max_results = kSarifDefaultResults; // from Options
    std::function<void(std::string_view, uint64_t, uint64_t)> progress; // from Options
    std::vector<LeakGroup> leaks;      // unsuppressed, both kinds, biggest bytes first
    std::vector<LeakGroup> suppressed; // same order
    std::vector<Totals> rule_use;      // per rule of *suppressions, in file order
    std::vector<ExpertTotals> experts; // per Snapshot::experts entry
    Totals leaked, outstanding, suppressed_total;
    // Outstanding blocks left out because they are still reachable (not counted unless
    // Options::count_reachable, in which case they are in `leaks` and this stays empty).
    Totals reachable;
    bool classified = false;           // the snapshot's blocks were classified by reachability
    bool count_reachable = false;      // from Options
    ReachTotals reach;                 // every key's live blocks by class
    std::vector<Budget> budgets;       // from Options
    std::vector<BudgetCheck> budget_checks; // per budget, per key name it matched, in budget order

    uint64_t unsuppressed_stacks() const { return leaked.stacks + outstanding.stacks; }
    size_t budgets_over() const;
};

LeakReport build_report(const model::Snapshot &snap, const Options &options = {});

// Unsuppressed leak groups of both kinds, for exit codes.
struct LeakCount {
    Totals leaked, outstanding, suppressed;
    std::vector<BudgetCheck> over_budget; // the checks that failed
    uint64_t unsuppressed() const { return leaked.stacks + outstanding.stacks; }
};
LeakCount count_leaks(const model::Snapshot &snap, const Suppressions *suppressions = nullptr);
LeakCount count_leaks(const model::Snapshot &snap, const Options &options);
// "key 'http' leaked 4396 bytes, 300 over its budget of 4096 (--limit http=4K)"
std::string describe(const BudgetCheck &check, const std::vector<Budget> &budgets);

// Writers. The text, JSON, SARIF and folded writers never fail on a well-formed LeakReport; a
// snapshot with dangling stack or frame indices prints them as "<invalid ...>" rather than crash.
void write_text(std::ostream &out, const LeakReport &report);
void write_json(std::ostream &out, const LeakReport &report);
void write_sarif(std::ostream &out, const LeakReport &report);
void write_folded(std::ostream &out, const LeakReport &report);
// The gzipped pprof profile (binary; see pprof_writer.cpp for its sample types and labels). False
// with *error only when compression or the stream fails.
bool write_pprof(std::ostream &out, const LeakReport &report, std::string *error = nullptr);
// One self-contained HTML page: per-key table, leaks and forced cleanups by stack, and an
// interactive flame graph (inline script, no network).
void write_html(std::ostream &out, const LeakReport &report);

// Any format to a stream (Format::Snapshot writes the binary snapshot). False with *error when the
// stream fails or the snapshot cannot be encoded.
bool write(std::ostream &out, const model::Snapshot &snap, Format format, const Options &options,
           std::string *error);

// The entry point of NmWriteReport and the at-exit report. format: "text", "json", "sarif",
// "folded", "snapshot", or empty to choose from the file's extension. The file is replaced
// atomically. False with a one-line *error (unknown format, unwritable path, ...).
bool write_file(const model::Snapshot &snap, const std::string &path, std::string_view format,
                std::string *error);
bool write_file(const model::Snapshot &snap, const std::string &path, std::string_view format,
                const Options &options, std::string *error);

// The path of one process's at-exit report: every "%p" of NMLEAK_REPORT becomes the process id and
// "%%" a single '%' (as LeakSanitizer's log_path does); any other '%' stays. Without "%p", every
// process that inherits the variable writes the same file, and the last one to exit wins.
std::string report_path_for_pid(std::string_view pattern, long pid);

// The at-exit policy, from the environment:
//   NMLEAK_FAIL_ON_LEAK=1     exit with kExitLeaks when unsuppressed leaks remain ("0", "" or unset:
//                             keep the program's own exit code)
//   NMLEAK_SUPPRESSIONS=FILE  suppressions applied to the at-exit report and to the exit code
//   NMLEAK_LEAKS=all          still-reachable blocks of open keys count as leaks too ("lost", the
//                             default: only lost ones)
//   NMLEAK_LIMITS=N=S;N=S     budgets (see Budget): exit with kExitLeaks when one is exceeded
struct EnvSettings {
    bool fail_on_leak = false;
    bool count_reachable = false;
    std::string suppressions_path;
    Suppressions suppressions;
    std::vector<Budget> budgets;
    Options options() const {
        Options o;
        if (!suppressions_path.empty()) o.suppressions = &suppressions;
        o.count_reachable = count_reachable;
        o.budgets = budgets;
        return o;
    }
};
// False with *error when NMLEAK_SUPPRESSIONS names a file that cannot be read or parsed (the
// settings are still filled, without suppressions) or NMLEAK_FAIL_ON_LEAK is not 0/1/true/false.
bool settings_from_env(EnvSettings *out, std::string *error);

// kExitLeaks when a budget is exceeded, or fail_on_leak is set and unsuppressed leaks remain, else
// kExitOk (the exit hook then keeps the program's own exit code).
int exit_code_for(const LeakCount &count, bool fail_on_leak);
int exit_code_for(const model::Snapshot &snap, const EnvSettings &settings);

} // namespace nm::report

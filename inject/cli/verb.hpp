// verb.hpp - the nmleak command line's verbs: each verb is one file that registers itself here.
//
// To add a verb, create inject/cli/verb_NAME.cpp holding a class derived from nm::cli::Verb and
// one NM_CLI_VERB(...) line; inject/CMakeLists.txt picks the file up, main.cpp lists it in --help.
#pragma once

#include <CLI/CLI.hpp>

#include <nmleak/model.hpp>
#include <nmleak/report.hpp>

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace nm::cli {

// Exit codes, documented in `nmleak --help` and the README.
inline constexpr int kExitOk = report::kExitOk;       // 0
inline constexpr int kExitUsage = report::kExitUsage; // 1: bad usage or unreadable input
inline constexpr int kExitLeaks = report::kExitLeaks; // 23: leaks with --fail-on-leak, or over --limit

class Verb {
public:
    virtual ~Verb() = default;
    // Declares options and positionals on the verb's subcommand, binding them to members.
    virtual void configure(CLI::App &cmd) = 0;
    // Runs once the command line parsed; returns the process exit code.
    virtual int run() = 0;
    // nmleak links libnmapi, whose exit hook writes NMLEAK_REPORT and applies NMLEAK_FAIL_ON_LEAK
    // for this process. A verb that only reads snapshots must not: `NMLEAK_REPORT=x.nmsnap nmleak
    // report x.nmsnap` would overwrite the input with nmleak's own empty record. A verb that runs
    // experts in this process (a demo) returns true to keep the report.
    virtual bool keeps_exit_report() const { return false; }
};

struct VerbInfo {
    const char *name;
    const char *summary;
    int order; // position in `nmleak --help`: lower first, then by name
    std::unique_ptr<Verb> (*make)();
};

bool register_verb(const VerbInfo &info);
// Sorted by order, then name.
std::vector<VerbInfo> registered_verbs();

// Prints "nmleak: MESSAGE" on stderr and returns kExitUsage.
int fail(const std::string &message);

// Helpers shared by the verbs that read snapshots and write reports. Each prints its own error.
bool load_snapshot(const std::string &path, model::Snapshot *out);
bool load_suppressions(const std::vector<std::string> &paths, report::Suppressions *out);
// --limit NAME=SIZE values.
bool parse_budgets(const std::vector<std::string> &texts, std::vector<report::Budget> *out);
// Writes what `produce` prints to OUT (replaced only once complete), or to stdout when OUT is
// empty or "-".
bool emit(const std::string &out_path, const std::function<bool(std::ostream &, std::string *)> &produce);

} // namespace nm::cli

#define NM_CLI_CONCAT2(a, b) a##b
#define NM_CLI_CONCAT(a, b) NM_CLI_CONCAT2(a, b)
// NM_CLI_VERB(ReportVerb, "report", "Write a leak report from a snapshot file", 40);
#define NM_CLI_VERB(Class, name, summary, order)                                                   \
    static const bool NM_CLI_CONCAT(nm_cli_registered_, __LINE__) = ::nm::cli::register_verb(     \
        {name, summary, order, []() -> std::unique_ptr<::nm::cli::Verb> { return std::make_unique<Class>(); }})

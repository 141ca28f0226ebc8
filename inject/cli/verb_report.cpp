// verb_report.cpp - `nmleak report FILE`: a leak report (text, JSON, SARIF, folded, pprof, HTML)
// from a snapshot.
#include "progress.hpp"
#include "verb.hpp"

#include <nmleak/text.hpp>

#include <cstdio>

#include <unistd.h>

namespace nm::cli {
namespace {

class ReportVerb final : public Verb {
public:
    void configure(CLI::App &cmd) override {
        cmd.add_option("FILE", input_, "Snapshot file (.nmsnap) written by 'nmleak snapshot', "
                                       "NmWriteReport or NMLEAK_REPORT")
            ->required()
            ->type_name("");
        cmd.add_option("-f,--format", format_,
                       "Report format: text, json, sarif, folded, pprof (gzipped profile.proto), "
                       "html (self-contained page with a flame graph), or snapshot (re-encode the "
                       "file in this build's format) (default: from -o's extension, else text)")
            ->check(CLI::IsMember({"text", "json", "sarif", "folded", "pprof", "html", "snapshot"}))
            ->type_name("FORMAT");
        cmd.add_option("-o,--output", output_, "Write the report to OUT instead of standard output")
            ->type_name("OUT");
        cmd.add_option("-s,--suppressions", suppressions_,
                       "LeakSanitizer-style suppression file ('leak:PATTERN' lines); repeatable")
            ->allow_extra_args(false)
            ->type_name("FILE");
        cmd.add_option("--source-root", source_root_,
                       "SARIF: write source paths under DIR relative to it (uriBaseId SRCROOT)")
            ->type_name("DIR");
        cmd.add_option("--sarif-max-results", sarif_max_results_,
                       "SARIF: keep the N biggest leaking stacks as results (default 5000, what GitHub "
                       "code scanning stores; at most 25000, the most it accepts)")
            ->check(CLI::Range(size_t{1}, report::kSarifResultsLimit))
            ->type_name("N");
        cmd.add_option("--limit", limits_,
                       "Budget NAME=SIZE: exit 23 when the keys named NAME (a name or a glob) leaked "
                       "more than SIZE bytes (K, M, G suffixes); repeatable")
            ->allow_extra_args(false)
            ->type_name("NAME=SIZE");
        cmd.add_flag("-q,--quiet", quiet_, "No progress line and no summary on standard error");
        cmd.add_flag("--fail-on-leak", fail_on_leak_,
                     "Exit with status 23 when unsuppressed leaks remain (still outstanding blocks "
                     "of open keys count)");
        cmd.add_option("--leaks", leaks_,
                       "Which outstanding blocks of a snapshot classified by reachability count: 'lost' "
                       "(definitely and indirectly lost, the default) or 'all' (still reachable too)")
            ->check(CLI::IsMember({"lost", "all"}));
        cmd.footer("Leaks are the blocks of keys closed with outcome 'done' and the blocks still "
                   "outstanding in open keys (only the lost ones when the snapshot was classified by "
                   "reachability, unless --leaks all); forced cleanups are listed, not counted.\n"
                   "Exit status: 0 success, 1 usage or input error, 23 leaks with --fail-on-leak "
                   "or a key over its --limit budget.");
    }

    int run() override {
        report::Format format = report::Format::Text;
        if (!format_.empty()) {
            format = *report::parse_format(format_);
        } else if (!output_.empty() && output_ != "-") {
            if (auto by_ext = report::format_for_path(output_)) format = *by_ext;
        }
        const bool to_stdout = output_.empty() || output_ == "-";
        if (to_stdout && (format == report::Format::Pprof || format == report::Format::Snapshot) &&
            ::isatty(STDOUT_FILENO))
            return fail(std::string("the ") + report::to_string(format) +
                        " format is binary: write it with -o FILE or redirect standard output");
        if (!source_root_.empty() && source_root_.front() != '/')
            return fail("--source-root must be an absolute directory, got '" + source_root_ + "'");

        // A report printed on the terminal would run into the progress line: none then.
        Progress progress(quiet_ || (to_stdout && ::isatty(STDOUT_FILENO)));
        progress.stage("reading " + input_);
        model::Snapshot snap;
        if (!load_snapshot(input_, &snap)) return kExitUsage;
        report::Suppressions sup;
        if (!load_suppressions(suppressions_, &sup)) return kExitUsage;

        report::Options options;
        options.suppressions = &sup;
        options.source_root = source_root_;
        options.count_reachable = leaks_ == "all";
        options.sarif_max_results = sarif_max_results_;
        if (!parse_budgets(limits_, &options.budgets)) return kExitUsage;
        options.progress = progress.callback();
        if (!emit(output_, [&](std::ostream &out, std::string *error) {
                return report::write(out, snap, format, options, error);
            }))
            return kExitUsage;

        options.progress = nullptr;
        progress.stage("counting the leaks");
        const report::LeakCount count = report::count_leaks(snap, options);
        progress.clear();
        if (!quiet_ && !output_.empty() && output_ != "-")
            std::fprintf(stderr, "nmleak: wrote %s report to %s: %llu leaking stacks (%llu bytes), "
                                 "%llu suppressed\n",
                         report::to_string(format), text::escape(output_).c_str(),
                         static_cast<unsigned long long>(count.unsuppressed()),
                         static_cast<unsigned long long>(count.leaked.bytes + count.outstanding.bytes),
                         static_cast<unsigned long long>(count.suppressed.stacks));
        for (const report::BudgetCheck &c : count.over_budget)
            std::fprintf(stderr, "nmleak: over budget: %s\n", report::describe(c, options.budgets).c_str());
        return report::exit_code_for(count, fail_on_leak_);
    }

private:
    std::string input_, format_, output_, source_root_, leaks_ = "lost";
    std::vector<std::string> suppressions_, limits_;
    size_t sarif_max_results_ = report::kSarifDefaultResults;
    bool fail_on_leak_ = false, quiet_ = false;
};

} // namespace

NM_CLI_VERB(ReportVerb, "report",
            "Write a leak report (text, json, sarif, folded, pprof, html) from a snapshot",
            40);

} // namespace nm::cli

// verb_diff.cpp - `nmleak diff BEFORE AFTER`: what grew, what is new, what went away.
#include "progress.hpp"
#include "verb.hpp"

#include <nmleak/report_diff.hpp>

#include <unistd.h>

namespace nm::cli {
namespace {

class DiffVerb final : public Verb {
public:
    void configure(CLI::App &cmd) override {
        cmd.add_option("BEFORE", before_, "The earlier (or baseline) snapshot file")
            ->required()
            ->type_name("");
        cmd.add_option("AFTER", after_, "The later snapshot file")->required()->type_name("");
        cmd.add_option("-f,--format", format_, "Output format: text or json (default: text)")
            ->check(CLI::IsMember({"text", "json"}))
            ->type_name("FORMAT");
        cmd.add_option("-o,--output", output_, "Write the diff to OUT instead of standard output")
            ->type_name("OUT");
        cmd.add_option("-s,--suppressions", suppressions_,
                       "Suppression file applied to both snapshots; repeatable")
            ->allow_extra_args(false)
            ->type_name("FILE");
        cmd.add_flag("-q,--quiet", quiet_, "No progress line on standard error");
        cmd.add_flag("--fail-on-growth", fail_on_growth_,
                     "Exit with status 23 when a stack is new or grew (a CI gate against a "
                     "baseline snapshot)");
        cmd.footer("Compares retained memory (leaked blocks of keys closed with outcome 'done' plus "
                   "blocks still outstanding in open keys) per expert name and per allocation "
                   "stack. Stacks are matched by their symbolized frames, not ids or addresses.");
    }

    int run() override {
        // A diff printed on the terminal would run into the progress line: none then.
        Progress progress(quiet_ || ((output_.empty() || output_ == "-") && ::isatty(STDOUT_FILENO)));
        model::Snapshot before, after;
        progress.stage("reading " + before_);
        if (!load_snapshot(before_, &before)) return kExitUsage;
        progress.stage("reading " + after_);
        if (!load_snapshot(after_, &after)) return kExitUsage;
        report::Suppressions sup;
        if (!load_suppressions(suppressions_, &sup)) return kExitUsage;
        report::Options options;
        options.suppressions = &sup;
        options.progress = progress.callback();
        const report::SnapshotDiff d = report::diff(before, after, options);
        progress.stage("writing the diff");
        const bool json = format_ == "json";
        if (!emit(output_, [&](std::ostream &out, std::string *) {
                json ? report::write_diff_json(out, d) : report::write_diff_text(out, d);
                return true;
            }))
            return kExitUsage;
        progress.clear();
        const bool grew = d.count(report::Change::New) + d.count(report::Change::Grew) > 0;
        return fail_on_growth_ && grew ? kExitLeaks : kExitOk;
    }

private:
    std::string before_, after_, format_, output_;
    std::vector<std::string> suppressions_;
    bool fail_on_growth_ = false, quiet_ = false;
};

} // namespace

NM_CLI_VERB(DiffVerb, "diff", "Compare two snapshots: new, grown, shrunk and gone leaks", 50);

} // namespace nm::cli

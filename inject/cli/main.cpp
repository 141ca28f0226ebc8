// main.cpp - the nmleak command line: builds one CLI11 subcommand per registered verb and runs it.
#include "verb.hpp"

#include <nmleak/text.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#ifndef NMLEAK_VERSION
#define NMLEAK_VERSION "0.0.0"
#endif

namespace nm::cli {
namespace {

std::vector<VerbInfo> &registry() {
    // A function-local static: verbs register from other files' static initializers, whose order
    // relative to a namespace-scope vector would be unspecified.
    static std::vector<VerbInfo> verbs;
    return verbs;
}

// libnmapi's exit hook reads NMLEAK_REPORT and NMLEAK_FAIL_ON_LEAK when main returns. Unset
// only then, after the verb (and any child it started with this environment) is done.
void forget_exit_report() {
    ::unsetenv("NMLEAK_REPORT");
    ::unsetenv("NMLEAK_FAIL_ON_LEAK");
}

} // namespace

bool register_verb(const VerbInfo &info) {
    registry().push_back(info);
    return true;
}

std::vector<VerbInfo> registered_verbs() {
    std::vector<VerbInfo> v = registry();
    std::sort(v.begin(), v.end(), [](const VerbInfo &a, const VerbInfo &b) {
        return a.order != b.order ? a.order < b.order : std::string(a.name) < b.name;
    });
    return v;
}

int fail(const std::string &message) {
    // Messages quote paths, process names and agents' words: nothing in them reaches the terminal raw.
    std::fprintf(stderr, "nmleak: %s\n", nm::text::escape_lines(message).c_str());
    return kExitUsage;
}

} // namespace nm::cli

int main(int argc, char **argv) {
    using namespace nm::cli;
    CLI::App app{"nmleak: leak tracking for Network Monitor experts (libnmapi)", "nmleak"};
    app.set_version_flag("--version", NMLEAK_VERSION);
    app.require_subcommand(1);
    app.footer("Exit status: 0 success; 1 usage or input error (unreadable, truncated or corrupted "
               "file); 23 unsuppressed leaks remain and --fail-on-leak was given.\n"
               "Run 'nmleak VERB --help' for a verb's options.");

    std::vector<std::pair<CLI::App *, std::unique_ptr<Verb>>> verbs;
    for (const VerbInfo &info : registered_verbs()) {
        CLI::App *cmd = app.add_subcommand(info.name, info.summary);
        std::unique_ptr<Verb> verb = info.make();
        verb->configure(*cmd);
        verbs.emplace_back(cmd, std::move(verb));
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        // CLI11 has its own exit codes per error kind; nmleak promises 1 for every usage error.
        const int rc = app.exit(e);
        forget_exit_report();
        return rc == 0 ? kExitOk : kExitUsage;
    }
    for (auto &[cmd, verb] : verbs) {
        if (!cmd->parsed()) continue;
        int rc;
        try {
            rc = verb->run();
        } catch (const std::exception &e) {
            rc = fail(std::string("error: ") + e.what());
        }
        if (!verb->keeps_exit_report()) forget_exit_report();
        return rc;
    }
    forget_exit_report();
    return fail("no verb given (see nmleak --help)");
}

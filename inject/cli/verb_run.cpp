// verb_run.cpp - `nmleak run [options] -- PROG ARGS`: start an analyzer with the agent preloaded.
#include "verb.hpp"

#include "live_target.hpp"

#include <nmleak/report.hpp>
#include <nmleak/snapshot_io.hpp>
#include <nmleak/text.hpp>

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

namespace nm::cli {
namespace {

pid_t g_child = 0;

// SIGTERM/SIGHUP sent to nmleak are meant for the program: pass them on. (SIGINT and SIGQUIT from
// the terminal reach the program directly, as it is in the same process group: nmleak ignores them
// and waits for its exit, as a shell does.)
void forward_signal(int sig) {
    if (g_child > 0) ::kill(g_child, sig);
}

// In a sanitizer build the agent needs the ASan/TSan runtime, which insists on being the first
// object loaded: put the runtime nmleak itself was linked with in front of the agent.
std::string sanitizer_runtime() {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        const size_t slash = line.find('/');
        if (slash == std::string::npos) continue;
        const std::string path = line.substr(slash);
        const std::string name = path.substr(path.rfind('/') + 1);
        if (name.starts_with("libasan.so") || name.starts_with("libtsan.so")) return path;
    }
    return "";
}

// libnmleak-heap.so sits next to the agent once installed, in preload/ beside agent/ in a build.
std::string find_heap_library(const std::string &agent, std::string *error) {
    if (const char *env = std::getenv("NMLEAK_HEAP_PATH"); env && *env) {
        if (::access(env, R_OK) == 0) return env;
        *error = std::string("NMLEAK_HEAP_PATH=") + env + " cannot be read";
        return "";
    }
    const std::string dir = agent.substr(0, agent.rfind('/'));
    for (const std::string &c : {dir + "/libnmleak-heap.so", dir + "/../preload/libnmleak-heap.so"}) {
        char real[PATH_MAX];
        if (::realpath(c.c_str(), real) && ::access(real, R_OK) == 0) return real;
    }
    *error = "cannot find libnmleak-heap.so next to " + agent + " (set NMLEAK_HEAP_PATH, or use --no-heap)";
    return "";
}

std::string absolute(const std::string &path) {
    if (path.empty() || path[0] == '/') return path;
    char cwd[PATH_MAX];
    if (!::getcwd(cwd, sizeof cwd)) return path;
    return std::string(cwd) + "/" + path;
}

// FILE with ".PID" before its extension: where another process's report of the run goes.
std::string sibling_path(const std::string &file, long pid) {
    for (const char *two : {".pb.gz", ".sarif.json"})
        if (file.size() > std::strlen(two) && file.ends_with(two))
            return file.substr(0, file.size() - std::strlen(two)) + "." + std::to_string(pid) + two;
    const size_t slash = file.rfind('/');
    const size_t dot = file.rfind('.');
    const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash + 1);
    if (!has_ext) return file + "." + std::to_string(pid);
    return file.substr(0, dot) + "." + std::to_string(pid) + file.substr(dot);
}

// A private directory for the run's at-exit snapshots (0700, removed afterwards).
std::string make_private_dir() {
    const char *tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/nmleak-run.XXXXXX";
    if (!::mkdtemp(tmpl.data())) return "";
    return tmpl;
}

// "report.1234.nmsnap" -> 1234; 0 for anything else.
long pid_of_report(const std::string &name) {
    if (!name.starts_with("report.") || !name.ends_with(".nmsnap")) return 0;
    const std::string digits = name.substr(7, name.size() - 7 - 7);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
    return std::strtol(digits.c_str(), nullptr, 10);
}

class RunVerb final : public Verb {
public:
    void configure(CLI::App &cmd) override {
        cmd.add_option("PROG", command_, "The program and its arguments, after '--'")->required();
        cmd.add_option("-r,--report", report_,
                       "Write a report when PROG exits (format from the extension: .txt .json .sarif .folded "
                       ".pb.gz .html .nmsnap)");
        cmd.add_option("-f,--format", format_, "Report format, overriding the extension")
            ->check(CLI::IsMember({"text", "json", "sarif", "folded", "pprof", "html", "snapshot"}));
        cmd.add_flag("--fail-on-leak", fail_on_leak_,
                     "Exit with status 23 when unsuppressed leaks remain at exit (NMLEAK_FAIL_ON_LEAK)");
        cmd.add_option("--leaks", leaks_,
                       "Which blocks still live at exit count as leaks: 'lost' (nothing points to them, "
                       "definitely or indirectly; the default) or 'all' (still reachable too) (NMLEAK_LEAKS)")
            ->check(CLI::IsMember({"lost", "all"}));
        cmd.add_option("--limit", limits_,
                       "Budget NAME=SIZE: exit 23 when the keys named NAME (a name or a glob) leaked more "
                       "than SIZE bytes at exit (K, M, G suffixes); repeatable (NMLEAK_LIMITS)")
            ->allow_extra_args(false)
            ->type_name("NAME=SIZE");
        cmd.add_option("-s,--suppressions", suppressions_, "LeakSanitizer-style suppression file for the report "
                                                           "and --fail-on-leak");
        cmd.add_option("--stack-depth", stack_depth_, "Frames recorded per block, 0-64 (NMLEAK_STACK_DEPTH)")
            ->check(CLI::Range(0, 64));
        cmd.add_flag("--follow-children", follow_children_,
                     "Keep the agent in LD_PRELOAD for PROG's children too (NMLEAK_FOLLOW_CHILDREN=1)");
        cmd.add_flag("--no-agent", no_agent_, "Do not preload the agent: only the report settings apply");
        cmd.add_flag("--no-heap", no_heap_,
                     "Do not track malloc/new (the whole heap): only memory of the expert API is tracked");
        cmd.add_flag("--reclaim-left-behind", reclaim_left_,
                     "When a key closes, free the heap blocks its run left behind that a reachability pass finds "
                     "nothing pointing to (NMLEAK_RECLAIM_LEFT_BEHIND=unreachable); unsafe for a program that hides "
                     "pointers (xor'd, in files): off by default");
        cmd.add_option("--wrapper", wrappers_,
                       "Also treat modules matching this file-name pattern as allocation wrappers (repeatable, "
                       "e.g. 'libglib-2.0.so*'): their callers are charged (NMLEAK_WRAPPERS)");
        cmd.add_flag("-q,--quiet", quiet_, "No status lines from nmleak itself");
        cmd.allow_extras();
        cmd.footer("PROG starts with libnmleak-agent.so preloaded: the agent listens before main() runs, so "
                   "'nmleak ps', 'nmleak snapshot PID' and nmleak-gui can connect at once. PROG's children do not "
                   "inherit the agent unless --follow-children.\n"
                   "The whole heap is tracked too (libnmleak-heap.so: malloc and new of every module, each block "
                   "charged to the module that asked for it, blocks served by mimalloc) unless --no-heap.\n"
                   "Reports: every libnmapi process of the run (PROG, its children, a wrapper script's commands) "
                   "records its own; PROG's (the process nmleak started) goes to --report FILE, each other one "
                   "to FILE with .PID before the extension.\n"
                   "Exit status: PROG's own (128+N if killed by signal N), or 23 with --fail-on-leak when PROG's "
                   "own report has unsuppressed leaks (lost blocks, unless --leaks all), or when one of its keys is over its --limit budget; 1 if "
                   "PROG cannot be started.");
    }

    int run() override {
        if (!command_.empty() && command_.front() == "--") command_.erase(command_.begin());
        if (command_.empty()) return fail("nothing to run: nmleak run [options] -- PROG ARGS");
        if (!report_.empty() && format_.empty() && !report::format_for_path(report_))
            return fail("cannot tell the report format from '" + report_ + "': use .txt .json .sarif .folded "
                        ".pb.gz .html .nmsnap or --format");
        if (!parse_budgets(limits_, &budgets_)) return kExitUsage;
        for (const report::Budget &b : budgets_)
            if (b.text.find(';') != std::string::npos)
                return fail("--limit '" + b.text + "': NAME may not hold ';' (NMLEAK_LIMITS separates budgets with it)");
        // The environment's NMLEAK_FAIL_ON_LEAK=1 and NMLEAK_LIMITS mean what --fail-on-leak and
        // --limit do: nmleak applies them to PROG's own report.
        if (const char *v = std::getenv("NMLEAK_FAIL_ON_LEAK"); v && (!std::strcmp(v, "1") || !std::strcmp(v, "true") ||
                                                                     !std::strcmp(v, "yes")))
            fail_on_leak_ = true;
        if (const char *v = std::getenv("NMLEAK_LIMITS"); limits_.empty() && v && *v) {
            std::vector<std::string> texts;
            for (std::string_view rest = v; !rest.empty();) {
                const size_t semi = rest.find(';');
                if (semi != 0) texts.emplace_back(rest.substr(0, semi));
                rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
            }
            if (!parse_budgets(texts, &budgets_)) return kExitUsage;
        }
        if (const char *v = std::getenv("NMLEAK_LEAKS"); leaks_.empty() && v && *v) {
            if (std::strcmp(v, "lost") != 0 && std::strcmp(v, "all") != 0)
                return fail(std::string("NMLEAK_LEAKS='") + v + "' is not lost or all");
            leaks_ = v;
        }
        report::Suppressions suppressions;
        if (const char *v = std::getenv("NMLEAK_SUPPRESSIONS"); suppressions_.empty() && v && *v) suppressions_ = v;
        if (!suppressions_.empty()) {
            std::string why;
            if (!suppressions.add_file(suppressions_, &why)) return fail(why);
        }
        // Each process of the run writes its at-exit snapshot as report.PID.nmsnap in a private
        // directory; nmleak turns PROG's into --report FILE afterwards, so no process of the run can
        // overwrite another's.
        // Without --report (and no NMLEAK_REPORT of the caller's), PROG's report still comes back
        // here, for the summary at exit.
        summary_ = report_.empty() && !quiet_ && !std::getenv("NMLEAK_REPORT");
        if (!report_.empty() || fail_on_leak_ || !budgets_.empty() || summary_) {
            collect_dir_ = make_private_dir();
            if (collect_dir_.empty()) return fail(std::string("cannot create a temporary directory: ") + std::strerror(errno));
        }
        std::string agent, heap;
        if (!no_agent_ || !no_heap_) {
            std::string error;
            const std::string found = inject::find_agent_library(&error);
            if (found.empty()) return fail(error);
            if (!no_agent_) agent = found;
            if (!no_heap_ && !sanitizer_runtime().empty()) {
                // The sanitizer runtime owns malloc in this build: two interposers cannot share it.
                if (!quiet_)
                    std::fprintf(stderr, "nmleak: this nmleak is a sanitizer build: the whole heap is not tracked "
                                         "(expert API memory only)\n");
            } else if (!no_heap_) {
                heap = find_heap_library(found, &error);
                if (heap.empty()) return fail(error);
            }
        }

        const pid_t child = ::fork();
        if (child < 0) {
            const int err = errno;
            if (!collect_dir_.empty()) ::rmdir(collect_dir_.c_str());
            return fail(std::string("fork: ") + std::strerror(err));
        }
        if (child == 0) exec_program(heap, agent); // does not return

        g_child = child;
        struct sigaction forward{}, ignore{};
        forward.sa_handler = forward_signal;
        ignore.sa_handler = SIG_IGN;
        sigaction(SIGTERM, &forward, nullptr);
        sigaction(SIGHUP, &forward, nullptr);
        sigaction(SIGINT, &ignore, nullptr);
        sigaction(SIGQUIT, &ignore, nullptr);
        if (!quiet_ && !no_agent_)
            std::fprintf(stderr, "nmleak: %s is pid %d; its agent answers 'nmleak snapshot %d -o FILE' and nmleak-gui\n",
                         text::escape(command_.front()).c_str(), int(child), int(child));
        int status = 0;
        while (::waitpid(child, &status, 0) < 0)
            if (errno != EINTR) return fail(std::string("waitpid: ") + std::strerror(errno));

        int code;
        if (WIFEXITED(status)) {
            code = WEXITSTATUS(status);
        } else {
            code = 128 + WTERMSIG(status);
            if (!quiet_) std::fprintf(stderr, "nmleak: %s was killed by signal %d (%s)\n", text::escape(command_.front()).c_str(),
                                      WTERMSIG(status), strsignal(WTERMSIG(status)));
        }
        if (!collect_dir_.empty()) code = collect_reports(child, code, suppressions);
        return code;
    }

private:
    [[noreturn]] void exec_program(const std::string &heap, const std::string &agent) {
        if (!agent.empty() || !heap.empty()) {
            // The heap shim goes first: its malloc must come before every other object's.
            const char *old = std::getenv("LD_PRELOAD");
            const std::string runtime = sanitizer_runtime();
            std::string preload = runtime;
            for (const std::string *lib : {&heap, &agent})
                if (!lib->empty()) preload += (preload.empty() ? "" : ":") + *lib;
            // What PROG's own exec puts back (inject/preload/exec_follow.cpp): the libraries take
            // themselves out of LD_PRELOAD for PROG's children, not for the program PROG becomes.
            ::setenv("NMLEAK_RUN_PRELOAD", preload.c_str(), 1);
            if (old && *old) preload += std::string(":") + old;
            ::setenv("LD_PRELOAD", preload.c_str(), 1);
        }
        if (!wrappers_.empty()) {
            std::string list;
            for (const std::string &w : wrappers_) list += (list.empty() ? "" : ":") + w;
            if (const char *old = std::getenv("NMLEAK_WRAPPERS"); old && *old) list += std::string(":") + old;
            ::setenv("NMLEAK_WRAPPERS", list.c_str(), 1);
        }
        if (!collect_dir_.empty()) {
            ::setenv("NMLEAK_REPORT", (collect_dir_ + "/report.%p.nmsnap").c_str(), 1);
            ::setenv("NMLEAK_REPORT_FORMAT", "snapshot", 1);
            // nmleak itself decides from PROG's report: a child's leaks must not change the
            // exit status of whatever started it.
            ::unsetenv("NMLEAK_FAIL_ON_LEAK");
            ::unsetenv("NMLEAK_LIMITS");
        }
        if (!suppressions_.empty()) ::setenv("NMLEAK_SUPPRESSIONS", absolute(suppressions_).c_str(), 1);
        if (stack_depth_ >= 0) ::setenv("NMLEAK_STACK_DEPTH", std::to_string(stack_depth_).c_str(), 1);
        if (follow_children_) ::setenv("NMLEAK_FOLLOW_CHILDREN", "1", 1);
        if (reclaim_left_) ::setenv("NMLEAK_RECLAIM_LEFT_BEHIND", "unreachable", 1);
        std::vector<char *> argv;
        for (std::string &a : command_) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        std::fprintf(stderr, "nmleak: cannot run %s: %s\n", text::escape(argv[0]).c_str(), std::strerror(errno));
        ::_exit(127);
    }

    // After PROG ended: PROG's snapshot becomes --report FILE (and decides --fail-on-leak), the
    // other processes' ones go beside it. Returns the exit status.
    int collect_reports(pid_t child, int code, const report::Suppressions &suppressions) {
        std::map<long, std::string> found; // pid -> snapshot path
        if (DIR *d = ::opendir(collect_dir_.c_str())) {
            while (dirent *e = ::readdir(d))
                if (long pid = pid_of_report(e->d_name)) found[pid] = collect_dir_ + "/" + e->d_name;
            ::closedir(d);
        }
        report::Options options;
        if (!suppressions_.empty()) options.suppressions = &suppressions;
        options.budgets = budgets_;
        options.count_reachable = leaks_ == "all";
        std::vector<std::string> others;
        bool own_written = false, own_found = false;
        for (const auto &[pid, path] : found) {
            model::Snapshot snap;
            std::string error;
            if (!snapshot_io::read_file(path, &snap, &error)) {
                std::fprintf(stderr, "nmleak: the report of process %ld is unreadable: %s\n", pid,
                             text::escape(error).c_str());
                continue;
            }
            const bool own = pid == long(child);
            if (own) {
                own_found = true;
                const report::LeakCount count = report::count_leaks(snap, options);
                if (code == 0 && (fail_on_leak_ || !budgets_.empty()) &&
                    report::exit_code_for(count, fail_on_leak_) != 0) {
                    for (const report::BudgetCheck &c : count.over_budget)
                        std::fprintf(stderr, "nmleak: over budget: %s\n",
                                     text::escape(report::describe(c, budgets_)).c_str());
                    if (!count.over_budget.empty())
                        std::fprintf(stderr, "nmleak: %zu budget%s exceeded (NMLEAK_LIMITS): exit 23\n",
                                     count.over_budget.size(), count.over_budget.size() == 1 ? "" : "s");
                    else if (!quiet_)
                        std::fprintf(stderr, "nmleak: unsuppressed leaks remain in %s: exit 23\n",
                                     text::escape(command_.front()).c_str());
                    code = kExitLeaks;
                }
            }
            if (own && summary_) print_summary(snap, options);
            if (report_.empty()) continue;
            const std::string out = own ? report_ : sibling_path(report_, pid);
            if (!report::write_file(snap, out, format_, options, &error)) {
                std::fprintf(stderr, "nmleak: cannot write the report of process %ld: %s\n", pid,
                             text::escape(error).c_str());
                if (own && code == 0) code = kExitUsage;
                continue;
            }
            if (own) own_written = true;
            else others.push_back(out);
        }
        std::error_code ec;
        std::filesystem::remove_all(collect_dir_, ec);
        if (summary_ && !own_found)
            std::fprintf(stderr, "nmleak: no report from %s: it did not exit normally, or ended in a program nmleak "
                                 "cannot follow (static, set-user-ID, or started with NMLEAK_HEAP=0 NMLEAK_AGENT=0)\n",
                         text::escape(command_.front()).c_str());
        if (!quiet_ && !report_.empty()) {
            if (own_written)
                std::fprintf(stderr, "nmleak: report written to %s\n", text::escape(report_).c_str());
            else if (!own_found)
                std::fprintf(stderr, "nmleak: no report from %s (it did not exit normally, or does not use libnmapi)\n",
                             text::escape(command_.front()).c_str());
            for (const std::string &o : others)
                std::fprintf(stderr, "nmleak: report of another process of the run written to %s\n",
                             text::escape(o).c_str());
        }
        return code;
    }

    // What PROG left at exit, on stderr: totals, the keys that leaked, the biggest leak sites, and
    // how to get the whole report.
    void print_summary(const model::Snapshot &snap, const report::Options &options) {
        const report::LeakReport r = report::build_report(snap, options);
        const report::LeakCount count = report::count_leaks(snap, options);
        const uint64_t bytes = count.leaked.bytes + count.outstanding.bytes;
        const uint64_t blocks = count.leaked.blocks + count.outstanding.blocks;
        std::string prog = text::escape(command_.front());
        // PROG may have ended as another program (a wrapper's exec): name the one that exited.
        const std::string &exe = snap.process.executable;
        const std::string base = exe.substr(exe.rfind('/') + 1);
        const std::string asked = command_.front().substr(command_.front().rfind('/') + 1);
        if (!exe.empty() && base != asked && base.rfind(asked, 0) != 0)
            prog += " (ended as " + text::escape(exe) + ")";
        if (blocks == 0) {
            if (count.suppressed.blocks)
                std::fprintf(stderr, "nmleak: %s left no leaks (%llu bytes in %llu blocks suppressed)\n", prog.c_str(),
                             (unsigned long long)count.suppressed.bytes, (unsigned long long)count.suppressed.blocks);
            else
                std::fprintf(stderr, "nmleak: %s left no leaks\n", prog.c_str());
            return;
        }
        const uint64_t stacks = count.leaked.stacks + count.outstanding.stacks;
        std::fprintf(stderr, "nmleak: %s leaked %llu bytes in %llu block%s from %llu stack%s%s\n", prog.c_str(),
                     (unsigned long long)bytes, (unsigned long long)blocks, blocks == 1 ? "" : "s",
                     (unsigned long long)stacks, stacks == 1 ? "" : "s",
                     snap.process.reach_classified ? " (definitely and indirectly lost)" : "");
        for (size_t i = 0; i < r.experts.size() && i < snap.experts.size(); ++i) {
            const report::ExpertTotals &t = r.experts[i];
            const uint64_t kb = t.leaked.bytes + t.outstanding.bytes;
            if (kb == 0) continue;
            const model::Expert &e = snap.experts[i];
            const uint64_t kn = t.leaked.blocks + t.outstanding.blocks;
            std::fprintf(stderr, "nmleak:   %s (%s): %llu bytes in %llu block%s\n", text::escape(e.name).c_str(),
                         e.kind == model::KeyKind::Module ? "module" : "expert", (unsigned long long)kb,
                         (unsigned long long)kn, kn == 1 ? "" : "s");
        }
        size_t shown = 0;
        for (const report::LeakGroup &g : r.leaks) {
            if (shown == 5) break;
            if (g.stack >= snap.stacks.size()) continue;
            // A module key's site is its first frame in that module (the frames above it are the
            // allocation wrappers it was charged past); an expert key's, the allocating call.
            const model::Frame *site = nullptr;
            const bool module_key = g.expert < snap.experts.size() && snap.experts[g.expert].kind == model::KeyKind::Module;
            for (uint32_t f : snap.stacks[g.stack].frames) {
                if (f >= snap.frames.size()) continue;
                const model::Frame &fr = snap.frames[f];
                if (!site) site = &fr;
                if (!module_key) break;
                const std::string &m = fr.module;
                if (m.size() >= snap.experts[g.expert].name.size() &&
                    m.compare(m.size() - snap.experts[g.expert].name.size(), std::string::npos,
                              snap.experts[g.expert].name) == 0) {
                    site = &fr;
                    break;
                }
            }
            std::string where = "(no stack)";
            if (site) {
                const model::Frame &fr = *site;
                where = fr.function.empty() ? fr.module + "+0x" + to_hex(fr.module_offset) : fr.function;
                if (!fr.file.empty()) where += " (" + fr.file + ":" + std::to_string(fr.line) + ")";
            }
            std::fprintf(stderr, "nmleak:   %llu bytes in %llu block%s at %s\n", (unsigned long long)g.bytes,
                         (unsigned long long)g.blocks, g.blocks == 1 ? "" : "s", text::escape(where).c_str());
            ++shown;
        }
        std::fprintf(stderr, "nmleak: every stack: nmleak run --report FILE (.txt .json .sarif .folded .pb.gz .html "
                             ".nmsnap); -q for none of this\n");
    }

    static std::string to_hex(uint64_t v) {
        char b[24];
        std::snprintf(b, sizeof b, "%llx", (unsigned long long)v);
        return b;
    }

    std::vector<std::string> command_, wrappers_;
    std::string report_, format_, suppressions_, leaks_, collect_dir_;
    std::vector<report::Budget> budgets_;
    std::vector<std::string> limits_;
    int stack_depth_ = -1;
    bool fail_on_leak_ = false, follow_children_ = false, no_agent_ = false, no_heap_ = false, quiet_ = false;
    bool reclaim_left_ = false;
    bool summary_ = false; // print what PROG left at exit (no --report given)
};

} // namespace

NM_CLI_VERB(RunVerb, "run", "Run an analyzer with the agent preloaded (live view, report at exit)", 10);

} // namespace nm::cli

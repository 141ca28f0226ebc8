// nmleak_demo.cpp - the demo analyzer: runs the sample experts over a capture, several at once,
// prints what each run did and left behind (leaks, forced cleanups, the events experts reported),
// and writes the report in every format (text, JSON, SARIF, folded, pprof, HTML).
//
//   nmleak-demo [--expert PATH]... [--capture FILE] [--deadline SECONDS] [--report-dir DIR]
//
// Without options it runs every expert in the experts/ folder next to the executable (the build
// tree's examples/experts; the installed library folder otherwise) on the sample capture.
#include <nmhost.h>
#include <nmleak/capture.hpp>
#include <nmleak/text.hpp>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Job {
    std::string path;
    std::string name;
    NMEXPERT *expert = nullptr;
    NMRUN *run = nullptr;
    std::string error; // load or start failure
    NMRUNRESULT result{};
};

fs::path exe_dir() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::current_path() : self.parent_path();
}

// The sample experts: next to the demo in the build tree, or in the installed library folder.
std::vector<std::string> default_experts(const fs::path &dir) {
    std::vector<std::string> out;
    for (const fs::path &candidate : {dir / "experts", (dir / NM_INSTALLED_EXPERT_DIR).lexically_normal()}) {
        std::error_code ec;
        for (const auto &entry : fs::directory_iterator(candidate, ec))
            if (entry.path().extension() == ".so") out.push_back(entry.path().string());
        if (!out.empty()) break;
    }
    std::sort(out.begin(), out.end());
    return out;
}

fs::path default_capture(const fs::path &dir) {
    for (const fs::path &candidate : {dir / "sample.pcap", (dir / NM_INSTALLED_CAPTURE).lexically_normal()})
        if (fs::exists(candidate)) return candidate;
    return dir / "sample.pcap";
}

const char *outcome_name(DWORD outcome) {
    switch (outcome) {
    case NM_OUTCOME_DONE: return "done";
    case NM_OUTCOME_FAILED: return "failed";
    case NM_OUTCOME_TERMINATED: return "terminated";
    case NM_OUTCOME_CRASHED: return "crashed";
    case NM_OUTCOME_TIMEOUT: return "timeout";
    default: return "?";
    }
}

// The closed record of this run in the snapshot: the latest closed key with the run's name.
const nm::model::Expert *find_record(const nm::model::Snapshot &snap, const std::string &name) {
    const nm::model::Expert *best = nullptr;
    for (const auto &e : snap.experts)
        if (e.name == name && (!best || e.id > best->id)) best = &e;
    return best;
}

// "conv_table_insert" from "conv_table_insert(void*, CONV_TABLE*) [clone .constprop.0]".
std::string short_function(const std::string &fn) {
    if (fn.empty()) return "??";
    size_t paren = fn.find('(');
    return nm::text::escape(paren == std::string::npos || paren == 0 ? fn : fn.substr(0, paren));
}

// Names, details and status texts are the experts' words: escaped before they reach the terminal.
std::string shown(const std::string &s) { return nm::text::escape(s); }

// "conv_table_insert <- track_segment <- Run": the expert's own frames of a stack, up to the first
// one inside libnmapi (the runner's).
std::string stack_text(const nm::model::Snapshot &snap, uint32_t id, size_t depth) {
    if (id >= snap.stacks.size()) return {};
    std::string out;
    size_t shown = 0;
    for (uint32_t f : snap.stacks[id].frames) {
        if (f >= snap.frames.size() || shown == depth) break;
        const nm::model::Frame &frame = snap.frames[f];
        if (frame.module.find("libnmapi") != std::string::npos) break;
        out += (shown++ ? " <- " : "") + short_function(frame.function);
    }
    return out;
}

// The same for the biggest stack of the run's cleanup.
std::string top_stack(const nm::model::Snapshot &snap, const nm::model::Expert &e, size_t depth) {
    if (e.cleanups.empty() || e.cleanups[0].stacks.empty()) return {};
    return stack_text(snap, e.cleanups[0].stacks[0].stack, depth);
}

std::string plural(uint64_t n, const char *word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// "812 B", "7.1 KiB", "10.0 GiB": at most 9 characters, so the table's columns hold.
std::string bytes_text(uint64_t bytes) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = double(bytes);
    int u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
    else std::snprintf(buf, sizeof buf, v >= 999.95 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

std::string blocks_bytes(uint64_t blocks, uint64_t bytes) {
    return std::to_string(blocks) + " / " + bytes_text(bytes);
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"nmleak-demo: runs sample Network Monitor experts under nmleak and reports what they leaked"};
    std::vector<std::string> experts;
    std::string capture, report_dir = ".";
    double deadline_s = 2.0;
    app.add_option("--expert", experts, "An expert shared object to run (repeatable; default: the sample experts)");
    app.add_option("--capture", capture, "The pcap file the experts read (default: the sample capture)");
    app.add_option("--deadline", deadline_s, "Seconds each expert may run before terminate is requested (0: none)")
        ->check(CLI::Range(0.0, 86400.0));
    app.add_option("--report-dir", report_dir, "Where the reports (nmleak-report.txt, .json, .sarif, .folded, .pb.gz, .html) go");
    CLI11_PARSE(app, argc, argv);

    fs::path dir = exe_dir();
    if (experts.empty()) experts = default_experts(dir);
    if (capture.empty()) capture = default_capture(dir).string();
    if (experts.empty()) {
        std::fprintf(stderr, "nmleak-demo: no experts found in %s/experts; pass --expert PATH\n", shown(dir.string()).c_str());
        return 1;
    }

    NMRUNOPTIONS opts{};
    opts.szCaptureFile = capture.c_str();
    opts.DeadlineMs = DWORD(deadline_s * 1000.0 + 0.5);
    opts.GraceMs = NM_DEFAULT_GRACE_MS;
    std::printf("nmleak-demo: %s on %s, deadline %.1f s (then %u ms grace)\n\n", plural(experts.size(), "expert").c_str(),
                shown(capture).c_str(), deadline_s, unsigned(opts.GraceMs));

    // Load and start every expert first, so they all run at once; a bad one is reported and
    // skipped, the others go on.
    std::vector<Job> jobs(experts.size());
    char error[NM_RUNNER_TEXT_SZ];
    for (size_t i = 0; i < experts.size(); ++i) {
        Job &j = jobs[i];
        j.path = experts[i];
        j.name = fs::path(j.path).filename().string();
        if (NmLoadExpert(j.path.c_str(), &j.expert, error, sizeof error) != NMERR_SUCCESS) {
            j.error = error;
            continue;
        }
        j.name = NmExpertInfo(j.expert)->szName;
        // A configurable expert is configured once (Configure on a key of its own); every run of
        // it then gets the configuration the host kept.
        if ((NmExpertInfo(j.expert)->Flags & EXPERT_ENUM_FLAG_CONFIGURABLE) &&
            NmConfigureExpert(j.expert, &opts, error, sizeof error) != NMERR_SUCCESS) {
            j.error = std::string("Configure: ") + error;
            continue;
        }
        if (NmStartExpert(j.expert, &opts, &j.run, error, sizeof error) != NMERR_SUCCESS) j.error = error;
    }
    for (Job &j : jobs) {
        if (!j.run) continue;
        NmWaitExpert(j.run, NM_WAIT_INFINITE, &j.result);
        NmFreeRun(j.run);
        NmFreeExpert(j.expert);
    }

    nm::model::Snapshot snap = nm::capture_snapshot(false);
    int w = 14; // the name column
    for (const Job &j : jobs) w = std::max(w, int(shown(j.error.empty() ? std::string(j.result.szKeyName) : j.name).size()));
    // Fixed widths: byte counts with units (bytes_text), block counts up to 10 digits.
    std::printf("%-*s %-10s %7s %10s %10s  %-22s %-22s %8s\n", w, "expert", "outcome", "frames", "live", "peak",
                "leaks blocks / bytes", "cleanup blocks / bytes", "time");
    std::printf("%s\n", std::string(size_t(w) + 97, '-').c_str());
    int failures = 0;
    for (const Job &j : jobs) {
        if (!j.error.empty()) {
            std::printf("%-*s %-10s\n", w, shown(j.name).c_str(), "not run");
            ++failures;
            continue;
        }
        const NMRUNRESULT &r = j.result;
        const nm::model::Expert *rec = find_record(snap, r.szKeyName);
        bool done = r.Outcome == NM_OUTCOME_DONE;
        std::string leaks = done ? blocks_bytes(r.Cleanup.Blocks, r.Cleanup.Bytes) : "-";
        std::string forced = done ? "-" : blocks_bytes(r.Cleanup.Blocks, r.Cleanup.Bytes);
        std::printf("%-*s %-10s %7u %10s %10s  %-22s %-22s %5u ms\n", w, shown(r.szKeyName).c_str(), outcome_name(r.Outcome),
                    r.FramesRead, bytes_text(r.Cleanup.Bytes).c_str(), bytes_text(rec ? rec->peak_bytes : 0).c_str(),
                    leaks.c_str(), forced.c_str(), r.ElapsedMs);
    }

    std::printf("(live: bytes the expert still held when its run ended; leaks for \"done\", "
                "reclaimed by the forced cleanup otherwise)\n\n");
    for (const Job &j : jobs) {
        if (!j.error.empty()) {
            std::printf("%-*s %s\n", w, shown(j.name).c_str(), shown(j.error).c_str());
            continue;
        }
        const NMRUNRESULT &r = j.result;
        std::printf("%-*s %s\n", w, shown(r.szKeyName).c_str(), shown(r.szDetail).c_str());
        const nm::model::Expert *rec = find_record(snap, r.szKeyName);
        if (rec && !rec->status.text.empty()) std::printf("%-*s   status: %s\n", w, "", shown(rec->status.text).c_str());
        if (rec && (!rec->events.empty() || rec->events_dropped)) {
            size_t warnings = 0;
            for (const auto &ev : rec->events) warnings += ev.severity > 0;
            std::printf("%-*s   events: %zu (%zu warnings or worse)%s\n", w, "", rec->events.size(), warnings,
                        rec->events_dropped ? (", " + std::to_string(rec->events_dropped) + " dropped").c_str() : "");
        }
        if (rec && rec->crash_stack)
            std::printf("%-*s   crashed in %s\n", w, "", stack_text(snap, rec->crash_stack, 3).c_str());
        if (rec && r.Cleanup.Blocks) {
            std::printf("%-*s   %s %s, %s, most from %s\n", w, "", r.Outcome == NM_OUTCOME_DONE ? "leaked" : "reclaimed",
                        plural(r.Cleanup.Blocks, "block").c_str(), plural(r.Cleanup.Bytes, "byte").c_str(),
                        top_stack(snap, *rec, 3).c_str());
        }
    }

    std::error_code ec;
    fs::create_directories(report_dir, ec);
    std::printf("\n");
    const std::pair<const char *, const char *> formats[] = {{"text", "txt"},     {"json", "json"},
                                                             {"sarif", "sarif"},   {"folded", "folded"},
                                                             {"pprof", "pb.gz"},   {"html", "html"}};
    for (const auto &[format, extension] : formats) {
        fs::path out = fs::path(report_dir) / (std::string("nmleak-report.") + extension);
        DWORD rc = NmWriteReport(out.c_str(), format);
        if (rc == NMERR_SUCCESS) std::printf("wrote %s (%s)\n", shown(out.string()).c_str(), format);
        else std::printf("could not write %s (%s): error %u\n", shown(out.string()).c_str(), format, unsigned(rc));
    }
    return failures ? 1 : 0;
}

// bench_report.cpp - times snapshot file I/O and the JSON/text reports on a 1M-block snapshot.
//
// The budget (issue 4): a snapshot of 1,000,000 live blocks over 10,000 distinct stacks is written
// to a file, read back, and turned into the symbolized JSON and text reports in at most 2 s
// together. Each repetition times the four stages; the median total is checked with --check.
// The pprof profile and the HTML page of the same snapshot are timed on their own (budget: 2 s
// each, checked with --check-format).
//
// usage: bench_report [--blocks N] [--stacks N] [--depth N] [--reps N] [--dir DIR] [--check SECONDS]
//                     [--check-format SECONDS] [--keep]
#include <nmleak/report.hpp>
#include <nmleak/snapshot_io.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

struct Config {
    uint64_t blocks = 1'000'000;
    uint32_t stacks = 10'000;
    uint32_t depth = 16;
    int reps = 3;
    std::string dir = "/tmp";
    double check_seconds = 0; // 0: report only
    double check_format_seconds = 0; // pprof and HTML, each; 0: report only
    bool keep = false;               // leave the files in --dir
};

// A deterministic generator, so every run measures the same snapshot.
struct Lcg {
    uint64_t s;
    uint64_t next() {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        return s >> 33;
    }
};

nm::model::Snapshot make_snapshot(const Config &c) {
    using namespace nm::model;
    Snapshot s;
    s.process.pid = 1234;
    s.process.command = "bench_report synthetic analyzer";
    s.process.executable = "/opt/analyzer/bin/analyzer";
    s.process.hostname = "bench";
    s.process.start_unix_ms = 1714557600000;
    s.process.snapshot_ms = 60000;
    s.process.stack_depth = c.depth;

    const uint32_t n_modules = 24;
    for (uint32_t m = 0; m < n_modules; ++m)
        s.modules.push_back({"/opt/analyzer/experts/libexpert_" + std::to_string(m) + ".so",
                             0x7f0000000000 + uint64_t{m} * 0x1000000, 0x800000, "0123456789abcdef"});
    // Frames are shared between stacks as in a real program: a pool twice the stack count.
    Lcg rng{42};
    const uint32_t n_frames = c.stacks * 2;
    s.frames.reserve(n_frames);
    for (uint32_t f = 0; f < n_frames; ++f) {
        uint32_t m = f % n_modules;
        uint64_t off = 0x1000 + uint64_t{f} * 0x40;
        s.frames.push_back({s.modules[m].base + off,
                            "expert_" + std::to_string(m) + "::Parser::handle_record_" +
                                std::to_string(f) + "(unsigned char const*, unsigned long)",
                            "/src/experts/expert_" + std::to_string(m) + "/parser_" +
                                std::to_string(f % 97) + ".cpp",
                            static_cast<uint32_t>(10 + f % 900), s.modules[m].path, off});
    }
    s.stacks.push_back({});
    for (uint32_t i = 0; i < c.stacks; ++i) {
        Stack st;
        for (uint32_t d = 0; d < c.depth; ++d)
            st.frames.push_back(static_cast<uint32_t>(d == 0 ? i * 2 % n_frames : rng.next() % n_frames));
        s.stacks.push_back(std::move(st));
    }
    // 40 open keys hold the live blocks; 10 closed keys leaked from some of the stacks.
    const uint32_t open_keys = 40, closed_keys = 10;
    for (uint32_t k = 0; k < open_keys + closed_keys; ++k) {
        Expert e;
        e.id = k + 1;
        e.name = "expert-" + std::to_string(k % 20);
        e.state = k < open_keys ? ExpertState::Running : ExpertState::Closed;
        e.outcome = Outcome::Done;
        s.experts.push_back(std::move(e));
    }
    // Each stack is code of one expert, so it allocates for one key: 10k (key, stack) groups.
    for (uint64_t b = 0; b < c.blocks; ++b) {
        const uint32_t stack = 1 + static_cast<uint32_t>(rng.next() % c.stacks);
        Expert &e = s.experts[stack % open_keys];
        uint64_t size = 16 + rng.next() % 4080;
        e.blocks.push_back({0x600000000000 + b * 64, size, stack, b / 1000, nm::model::BlockOrigin::Api, nm::model::Reach::Unknown});
        ++e.live_blocks;
        e.live_bytes += size;
        ++e.allocs;
    }
    for (uint32_t k = open_keys; k < open_keys + closed_keys; ++k) {
        Cleanup cl;
        cl.outcome = Outcome::Done;
        for (uint32_t g = 0; g < 100; ++g) {
            uint32_t stack = 1 + static_cast<uint32_t>(rng.next() % c.stacks);
            cl.stacks.push_back({stack, 3, 3 * 256});
            cl.blocks += 3;
            cl.bytes += 768;
        }
        s.experts[k].cleanups.push_back(std::move(cl));
    }
    for (Expert &e : s.experts) e.peak_bytes = e.live_bytes;
    return s;
}

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

uint64_t file_size(const std::string &p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

bool parse_args(int argc, char **argv, Config *c) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char * { return i + 1 < argc ? argv[++i] : nullptr; };
        const char *v = nullptr;
        if (a == "--blocks" && (v = value())) c->blocks = std::strtoull(v, nullptr, 10);
        else if (a == "--stacks" && (v = value())) c->stacks = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
        else if (a == "--depth" && (v = value())) c->depth = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
        else if (a == "--reps" && (v = value())) c->reps = std::max(1, std::atoi(v));
        else if (a == "--dir" && (v = value())) c->dir = v;
        else if (a == "--check" && (v = value())) c->check_seconds = std::strtod(v, nullptr);
        else if (a == "--check-format" && (v = value())) c->check_format_seconds = std::strtod(v, nullptr);
        else if (a == "--keep") c->keep = true;
        else {
            std::fprintf(stderr, "usage: bench_report [--blocks N] [--stacks N] [--depth N] [--reps N] "
                                 "[--dir DIR] [--check SECONDS] [--check-format SECONDS] [--keep]\n");
            return false;
        }
    }
    return c->stacks > 0 && c->depth > 0;
}

} // namespace

int main(int argc, char **argv) {
    Config c;
    if (!parse_args(argc, argv, &c)) return 1;
    auto t0 = std::chrono::steady_clock::now();
    const nm::model::Snapshot snap = make_snapshot(c);
    std::printf("synthetic snapshot: %llu blocks, %u stacks x %u frames, %zu frames, %zu experts "
                "(built in %.2f s)\n",
                static_cast<unsigned long long>(c.blocks), c.stacks, c.depth, snap.frames.size(),
                snap.experts.size(), seconds_since(t0));

    const std::string base = c.dir + "/bench_report." + std::to_string(::getpid());
    const std::string snap_path = base + ".nmsnap", json_path = base + ".json", text_path = base + ".txt";
    const std::string pprof_path = base + ".pb.gz", html_path = base + ".html";
    std::vector<double> totals, cpu_totals, pprof_times, html_times;
    std::string error;
    for (int rep = 0; rep < c.reps; ++rep) {
        double t_write, t_read, t_json, t_text;
        const double cpu0 = cpu_seconds();
        auto t = std::chrono::steady_clock::now();
        if (!nm::snapshot_io::write_file(snap, snap_path, &error)) {
            std::fprintf(stderr, "bench_report: %s\n", error.c_str());
            return 1;
        }
        t_write = seconds_since(t);
        t = std::chrono::steady_clock::now();
        nm::model::Snapshot loaded;
        if (!nm::snapshot_io::read_file(snap_path, &loaded, &error)) {
            std::fprintf(stderr, "bench_report: %s\n", error.c_str());
            return 1;
        }
        t_read = seconds_since(t);
        t = std::chrono::steady_clock::now();
        if (!nm::report::write_file(loaded, json_path, "json", &error)) {
            std::fprintf(stderr, "bench_report: %s\n", error.c_str());
            return 1;
        }
        t_json = seconds_since(t);
        t = std::chrono::steady_clock::now();
        if (!nm::report::write_file(loaded, text_path, "text", &error)) {
            std::fprintf(stderr, "bench_report: %s\n", error.c_str());
            return 1;
        }
        t_text = seconds_since(t);
        const double total = t_write + t_read + t_json + t_text;
        const double cpu = cpu_seconds() - cpu0;
        // The pprof profile and the HTML page, each from the loaded snapshot as `nmleak report`
        // writes them (grouping, symbols, encoding, compression, the file).
        t = std::chrono::steady_clock::now();
        const double cpu_p0 = cpu_seconds();
        if (!nm::report::write_file(loaded, pprof_path, "pprof", &error)) {
            std::fprintf(stderr, "bench_report: %s\n", error.c_str());
            return 1;
        }
        const double t_pprof = seconds_since(t), cpu_pprof = cpu_seconds() - cpu_p0;
        const double cpu_h0 = cpu_seconds();
        t = std::chrono::steady_clock::now();
        if (!nm::report::write_file(loaded, html_path, "html", &error)) {
            std::fprintf(stderr, "bench_report: %s\n", error.c_str());
            return 1;
        }
        const double t_html = seconds_since(t), cpu_html = cpu_seconds() - cpu_h0;
        pprof_times.push_back(t_pprof);
        html_times.push_back(t_html);
        totals.push_back(total);
        cpu_totals.push_back(cpu);
        std::printf("rep %d: write snapshot %.3f s (%.1f MB), read %.3f s, json %.3f s (%.1f MB), "
                    "text %.3f s (%.1f MB): total %.3f s wall, %.3f s CPU\n",
                    rep + 1, t_write, file_size(snap_path) / 1e6, t_read, t_json,
                    file_size(json_path) / 1e6, t_text, file_size(text_path) / 1e6, total, cpu);
        std::printf("rep %d: pprof %.3f s wall, %.3f s CPU (%.2f MB); html %.3f s wall, %.3f s CPU (%.2f MB)\n",
                    rep + 1, t_pprof, cpu_pprof, file_size(pprof_path) / 1e6, t_html, cpu_html,
                    file_size(html_path) / 1e6);
    }
    if (c.keep)
        std::printf("kept %s.{nmsnap,json,txt,pb.gz,html}\n", base.c_str());
    else
        for (const std::string &p : {snap_path, json_path, text_path, pprof_path, html_path}) ::unlink(p.c_str());
    std::sort(pprof_times.begin(), pprof_times.end());
    std::sort(html_times.begin(), html_times.end());
    const double pprof_median = pprof_times[pprof_times.size() / 2], html_median = html_times[html_times.size() / 2];
    std::printf("median pprof %.3f s, html %.3f s\n", pprof_median, html_median);
    int status = 0;
    if (c.check_format_seconds > 0)
        for (auto [name, t] : {std::pair{"pprof", pprof_median}, std::pair{"html", html_median}})
            if (t > c.check_format_seconds) {
                std::printf("FAIL: median %s %.3f s is over the budget of %.3f s\n", name, t, c.check_format_seconds);
                status = 2;
            }
    std::sort(totals.begin(), totals.end());
    std::sort(cpu_totals.begin(), cpu_totals.end());
    const double median = totals[totals.size() / 2];
    std::printf("median total %.3f s wall (%.3f s CPU), best %.3f s wall over %d repetitions\n",
                median, cpu_totals[cpu_totals.size() / 2], totals.front(), c.reps);
    if (c.check_seconds > 0 && median > c.check_seconds) {
        std::printf("FAIL: median %.3f s is over the budget of %.3f s\n", median, c.check_seconds);
        return 2;
    }
    return status;
}

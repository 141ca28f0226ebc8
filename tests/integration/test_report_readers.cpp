// test_report_readers.cpp - the pprof and HTML reports, read by the real tools: go tool pprof and
// headless Chromium.
//
// nmt_leak_sites (tests/support/leak_sites.cpp) is a host program with known leak sites; it writes
// its reports through NmWriteReport and NMLEAK_REPORT. `go` (Debian's golang-go) and `chromium`
// must be on PATH; a test is skipped, saying why, only when the tool is absent.
#include <nmleak/report.hpp>
#include <nmleak/snapshot_io.hpp>

#include "unit/golden.hpp"
#include "unit/report_sample.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::string quote(const std::string &s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

struct Result {
    int status = -1;
    std::string output;
};

Result run(const std::string &command, bool with_stderr = true) {
    Result r;
    FILE *p = ::popen((command + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

bool have(const char *tool) { return run(std::string("command -v ") + tool + " >/dev/null").status == 0; }

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/nmleak-readers-XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path &path() const { return path_; }

private:
    fs::path path_;
};

// Runs nmt_leak_sites once, writing FILE.pb.gz, FILE.html (NmWriteReport) and FILE.nmsnap
// (NMLEAK_REPORT at exit).
struct LeakSites {
    fs::path pprof, html, snapshot;
};

LeakSites run_leak_sites(const fs::path &dir) {
    LeakSites s{dir / "sites.pb.gz", dir / "sites.html", dir / "sites.nmsnap"};
    const Result r = run("NMLEAK_REPORT=" + quote(s.snapshot.string()) + " " + quote(NMT_LEAK_SITES) + " " +
                         quote(s.pprof.string()) + " pprof " + quote(s.html.string()) + " html");
    EXPECT_EQ(r.status, 0) << r.output;
    return s;
}

// ---- go tool pprof ----------------------------------------------------------------------------

class Pprof : public ::testing::Test {
protected:
    void SetUp() override {
        if (!have("go")) GTEST_SKIP() << "go is not on PATH (Debian: apt-get install golang-go)";
        // Offline and self-contained: the Go tool writes its caches under the test's own dir.
        env_ = "HOME=" + quote(dir_.path() / "home") + " GOCACHE=" + quote(dir_.path() / "gocache") +
               " GOPATH=" + quote(dir_.path() / "gopath") + " GOPROXY=off GOFLAGS= GOTOOLCHAIN=local ";
        fs::create_directories(dir_.path() / "home");
    }

    Result pprof(const std::string &args, const fs::path &file) {
        return run(env_ + "go tool pprof " + args + " " + quote(file.string()));
    }

    // The flat figure `go tool pprof -top` prints for `function`, or "" when it is not listed.
    std::map<std::string, std::string> top(const std::string &sample_index, const fs::path &file,
                                           const std::string &unit = "") {
        Result r = pprof("-top -sample_index=" + sample_index + (unit.empty() ? "" : " -unit=" + unit), file);
        EXPECT_EQ(r.status, 0) << r.output;
        std::map<std::string, std::string> flat;
        std::istringstream in(r.output);
        static const std::regex row(R"(^\s*(\S+)\s+\S+%\s+\S+%\s+(\S+)\s+\S+%\s+(.+)$)");
        for (std::string line; std::getline(in, line);) {
            std::smatch m;
            if (std::regex_match(line, m, row)) flat[m[3]] = m[1];
        }
        last_output_ = r.output;
        return flat;
    }

    TempDir dir_;
    std::string env_, last_output_;
};

TEST_F(Pprof, TopShowsTheLeakSitesWithExactSizesPerSampleType) {
    const LeakSites s = run_leak_sites(dir_.path());
    ASSERT_TRUE(fs::exists(s.pprof));

    auto leaked = top("leaked_space", s.pprof, "B");
    EXPECT_EQ(leaked["leak_site_beta"], "4096B") << last_output_;
    EXPECT_EQ(leaked["leak_site_alpha"], "300B") << last_output_;
    EXPECT_EQ(leaked.count("held_site_delta"), 0u) << last_output_;
    EXPECT_NE(last_output_.find("accounting for 4396B, 100% of 4396B total"), std::string::npos) << last_output_;

    auto leaked_objects = top("leaked_objects", s.pprof);
    EXPECT_EQ(leaked_objects["leak_site_alpha"], "3") << last_output_;
    EXPECT_EQ(leaked_objects["leak_site_beta"], "1") << last_output_;

    auto outstanding = top("outstanding_space", s.pprof, "B");
    EXPECT_EQ(outstanding["held_site_delta"], "448B") << last_output_;
    EXPECT_EQ(outstanding.count("leak_site_beta"), 0u) << last_output_;
    EXPECT_EQ(top("outstanding_objects", s.pprof)["held_site_delta"], "7") << last_output_;

    auto reclaimed = top("reclaimed_space", s.pprof, "B");
    EXPECT_EQ(reclaimed["cleanup_site_gamma"], "1024B") << last_output_;
    EXPECT_EQ(top("reclaimed_objects", s.pprof)["cleanup_site_gamma"], "2") << last_output_;

    // The default sample type is the leaks.
    Result plain = pprof("-top", s.pprof);
    EXPECT_NE(plain.output.find("Type: leaked_space"), std::string::npos) << plain.output;
}

TEST_F(Pprof, TagsShowKeysKindsAndOutcomes) {
    const LeakSites s = run_leak_sites(dir_.path());
    Result leaked = pprof("-tags -sample_index=leaked_space", s.pprof);
    ASSERT_EQ(leaked.status, 0) << leaked.output;
    EXPECT_NE(leaked.output.find("key: Total"), std::string::npos) << leaked.output;
    EXPECT_NE(leaked.output.find(": leaky"), std::string::npos) << leaked.output;
    EXPECT_NE(leaked.output.find("kind: Total"), std::string::npos) << leaked.output;
    EXPECT_NE(leaked.output.find(": expert"), std::string::npos) << leaked.output;
    EXPECT_NE(leaked.output.find(": done"), std::string::npos) << leaked.output;
    // Every key with something to show is a tag value; "tidy" freed everything and is absent.
    for (const char *key : {"crashy", "holder"})
        EXPECT_NE(leaked.output.find(std::string(": ") + key), std::string::npos) << key << "\n" << leaked.output;
    EXPECT_EQ(leaked.output.find("tidy"), std::string::npos) << leaked.output;
    Result failed = pprof("-tags -sample_index=reclaimed_space -tagfocus=outcome=failed", s.pprof);
    EXPECT_NE(failed.output.find("1.0kB (  100%): crashy"), std::string::npos) << failed.output;

    // -tagfocus selects by label: only the open key's blocks are outstanding.
    auto open = top("outstanding_space", s.pprof, "B");
    Result focused = pprof("-top -unit=B -sample_index=outstanding_space -tagfocus=key=holder", s.pprof);
    EXPECT_NE(focused.output.find("448B"), std::string::npos) << focused.output;
}

TEST_F(Pprof, AtExitReportByExtension) {
    // NMLEAK_REPORT=FILE.pb.gz: the format comes from the extension, the profile from the exit.
    const fs::path exit_profile = dir_.path() / "exit.pb.gz";
    const Result r = run("NMLEAK_REPORT=" + quote(exit_profile.string()) + " " + quote(NMT_LEAK_SITES));
    ASSERT_EQ(r.status, 0) << r.output;
    auto leaked = top("leaked_space", exit_profile, "B");
    EXPECT_EQ(leaked["leak_site_beta"], "4096B") << last_output_;
    EXPECT_EQ(top("outstanding_space", exit_profile, "B")["held_site_delta"], "448B") << last_output_;
}

TEST_F(Pprof, MappingsCarryModulesAndBuildIds) {
    const LeakSites s = run_leak_sites(dir_.path());
    nm::model::Snapshot snap;
    std::string error;
    ASSERT_TRUE(nm::snapshot_io::read_file(s.snapshot.string(), &snap, &error)) << error;
    Result raw = pprof("-raw", s.pprof);
    ASSERT_EQ(raw.status, 0) << raw.output;
    // The program's own executable is a mapping with its GNU build id.
    bool found = false;
    for (const nm::model::Module &m : snap.modules) {
        if (m.path.find("nmt_leak_sites") == std::string::npos) continue;
        found = true;
        ASSERT_FALSE(m.build_id.empty());
        EXPECT_NE(raw.output.find(m.path + " " + m.build_id), std::string::npos) << raw.output;
    }
    EXPECT_TRUE(found);
    // Every frame falls in a module of the process, so every location names its mapping, libc's
    // too (the symbolizer names it by another path than the process's maps on a merged /usr).
    const size_t locs = raw.output.find("Locations\n"), maps = raw.output.find("Mappings\n");
    ASSERT_NE(locs, std::string::npos) << raw.output;
    ASSERT_NE(maps, std::string::npos) << raw.output;
    std::istringstream lines(raw.output.substr(locs + 10, maps - locs - 10));
    int located = 0;
    bool libc_frame = false;
    for (std::string line; std::getline(lines, line);) {
        if (line.find(": 0x") == std::string::npos) continue;
        ++located;
        EXPECT_NE(line.find(" M="), std::string::npos) << "location without a mapping: " << line;
        if (line.find("__libc_start") != std::string::npos) libc_frame = true;
    }
    EXPECT_GT(located, 0) << raw.output;
    if (libc_frame) {
        for (const nm::model::Module &m : snap.modules) {
            if (m.path.find("/libc.so.6") == std::string::npos || m.build_id.empty()) continue;
            EXPECT_NE(raw.output.find(m.path + " " + m.build_id), std::string::npos) << raw.output;
        }
    }
    // Locations carry the source file and line of each frame.
    EXPECT_NE(raw.output.find("leak_site_beta "), std::string::npos) << raw.output;
    EXPECT_NE(raw.output.find("leak_sites.cpp:"), std::string::npos) << raw.output;
}

TEST_F(Pprof, SampleSnapshotFromTheCliKeepsEveryFrameKind) {
    // The golden sample has frames with every level of symbolization and a sizes-only key.
    const fs::path snap = dir_.path() / "sample.nmsnap", out = dir_.path() / "sample.pb.gz";
    std::string error;
    ASSERT_TRUE(nm::snapshot_io::write_file(nm::test::sample_snapshot(), snap.string(), &error)) << error;
    Result cli = run(quote(std::string(NM_BUILD_DIR) + "/inject/nmleak") + " report " + quote(snap.string()) +
                     " -o " + quote(out.string()));
    ASSERT_EQ(cli.status, 0) << cli.output;
    auto leaked = top("leaked_space", out, "B");
    EXPECT_EQ(leaked["http::Parser::parse"], "4096B") << last_output_;
    EXPECT_EQ(leaked["SSL_new"], "256B") << last_output_;
    EXPECT_EQ(leaked["http::Headers::add"], "100B") << last_output_;
    EXPECT_EQ(leaked["[no stack recorded]"], "500B") << last_output_;
    auto reclaimed = top("reclaimed_space", out, "B");
    EXPECT_EQ(reclaimed["crash_site"], "2048B") << last_output_;
    EXPECT_EQ(reclaimed["0xdead"], "1024B") << last_output_;
    EXPECT_EQ(reclaimed["libdns_expert.so+0x2222"], "64B") << last_output_; // module+offset frame
    auto outstanding = top("outstanding_space", out, "B");
    EXPECT_EQ(outstanding["libdns_expert.so+0x2222"], "32B") << last_output_;

    // Suppressed stacks leave the profile; the comment says how much.
    const fs::path sup = dir_.path() / "sup.txt", out2 = dir_.path() / "sup.pb.gz";
    std::ofstream(sup) << "leak:http::Parser\n";
    cli = run(quote(std::string(NM_BUILD_DIR) + "/inject/nmleak") + " report " + quote(snap.string()) +
              " -s " + quote(sup.string()) + " -f pprof -o " + quote(out2.string()));
    ASSERT_EQ(cli.status, 0) << cli.output;
    leaked = top("leaked_space", out2, "B");
    EXPECT_EQ(leaked.count("http::Parser::parse"), 0u) << last_output_;
    EXPECT_NE(last_output_.find("suppressed: 2 stacks, 3 blocks, 6144 bytes"), std::string::npos) << last_output_;
}

TEST_F(Pprof, ExecutableIsTheMainMappingAndFramesFindTheirModuleByAddress) {
    // The maps list the executable last here and name libc by its /lib path, while the frames
    // name it by its /usr/lib path (a merged /usr): pprof still gets the executable as its main
    // binary and every frame its mapping.
    nm::model::Snapshot s = nm::test::sample_snapshot();
    std::rotate(s.modules.begin(), s.modules.begin() + 1, s.modules.end());
    for (nm::model::Module &m : s.modules)
        if (m.path == "/usr/lib/x86_64-linux-gnu/libc.so.6") m.path = "/lib/x86_64-linux-gnu/libc.so.6";
    const fs::path snap = dir_.path() / "maps.nmsnap", out = dir_.path() / "maps.pb.gz";
    std::string error;
    ASSERT_TRUE(nm::snapshot_io::write_file(s, snap.string(), &error)) << error;
    const Result cli = run(quote(std::string(NM_BUILD_DIR) + "/inject/nmleak") + " report " + quote(snap.string()) +
                           " -o " + quote(out.string()));
    ASSERT_EQ(cli.status, 0) << cli.output;
    const Result top_out = pprof("-top -sample_index=leaked_space", out);
    ASSERT_EQ(top_out.status, 0) << top_out.output;
    EXPECT_NE(top_out.output.find("File: analyzer\n"), std::string::npos) << top_out.output;
    EXPECT_NE(top_out.output.find("Build ID: 0011223344556677\n"), std::string::npos) << top_out.output;
    const Result raw = pprof("-raw", out);
    ASSERT_EQ(raw.status, 0) << raw.output;
    std::istringstream lines(raw.output);
    bool start_thread = false;
    for (std::string line; std::getline(lines, line);) {
        if (line.find(" start_thread") == std::string::npos || line.find(": 0x") == std::string::npos) continue;
        start_thread = true;
        EXPECT_NE(line.find(" M="), std::string::npos) << line;
    }
    EXPECT_TRUE(start_thread) << raw.output;
    EXPECT_NE(raw.output.find("/lib/x86_64-linux-gnu/libc.so.6 deadbeefcafef00d"), std::string::npos) << raw.output;
}

TEST_F(Pprof, ModuleKeysAreTaggedWithTheirKind) {
    // A module key (the whole heap) beside the sample's expert keys: its kind label says so.
    nm::model::Snapshot s = nm::test::sample_snapshot();
    nm::model::Expert lib;
    lib.id = 100;
    lib.name = "libplugin.so";
    lib.kind = nm::model::KeyKind::Module;
    lib.state = nm::model::ExpertState::Running;
    lib.live_blocks = 2;
    lib.live_bytes = 96;
    lib.allocs = 2;
    lib.blocks = {{0x7f00dd000010, 64, 3, 900}, {0x7f00dd000060, 32, 4, 910}};
    for (auto &b : lib.blocks) b.origin = nm::model::BlockOrigin::Heap;
    s.experts.push_back(lib);
    const fs::path snap = dir_.path() / "module.nmsnap", out = dir_.path() / "module.pb.gz";
    std::string error;
    ASSERT_TRUE(nm::snapshot_io::write_file(s, snap.string(), &error)) << error;
    const Result cli = run(quote(std::string(NM_BUILD_DIR) + "/inject/nmleak") + " report " + quote(snap.string()) +
                           " -o " + quote(out.string()));
    ASSERT_EQ(cli.status, 0) << cli.output;
    const Result tags = pprof("-tags -sample_index=outstanding_space -tagfocus=key=libplugin.so", out);
    ASSERT_EQ(tags.status, 0) << tags.output;
    EXPECT_NE(tags.output.find("96.0B (  100%): module"), std::string::npos) << tags.output;
    EXPECT_EQ(tags.output.find(": expert"), std::string::npos) << tags.output;
    const Result experts = pprof("-tags -sample_index=outstanding_space -tagfocus=key=dns", out);
    EXPECT_NE(experts.output.find("(  100%): expert"), std::string::npos) << experts.output;
}

// ---- headless Chromium --------------------------------------------------------------------------

class Html : public ::testing::Test {
protected:
    void SetUp() override {
        if (!have("chromium")) GTEST_SKIP() << "chromium is not on PATH (Debian: apt-get install chromium)";
    }

    std::string chromium(const std::string &args, const std::string &url) {
        const fs::path profile = dir_.path() / ("profile" + std::to_string(++profiles_));
        fs::create_directories(profile);
        // No network, no first-run work, a throw-away profile: the page must render on its own.
        Result r = run("timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic "
                       "--no-first-run --disable-background-networking --disable-component-update "
                       "--disable-sync --user-data-dir=" + quote(profile.string()) + " " + args + " " +
                           quote(url),
                       false);
        EXPECT_EQ(r.status, 0) << "chromium failed";
        return r.output;
    }

    // The flame graph as the script drew it: the <svg id="fg-svg"> element of the rendered DOM.
    static std::string flame_svg(const std::string &dom) {
        const size_t start = dom.find("<svg id=\"fg-svg\"");
        if (start == std::string::npos) return "";
        const size_t end = dom.find("</svg>", start);
        return dom.substr(start, end == std::string::npos ? std::string::npos : end - start);
    }

    static std::string element_text(const std::string &dom, const std::string &id) {
        const size_t start = dom.find("id=\"" + id + "\"");
        if (start == std::string::npos) return "";
        const size_t gt = dom.find('>', start), lt = dom.find('<', gt);
        return dom.substr(gt + 1, lt - gt - 1);
    }

    TempDir dir_;
    int profiles_ = 0;
};

TEST_F(Html, RenderedDomNamesTheLeakSites) {
    const LeakSites s = run_leak_sites(dir_.path());
    std::string page;
    ASSERT_TRUE(nm::test::read_text(s.html.string(), &page));
    // Self-contained: nothing to fetch.
    for (const char *ref : {"src=\"http", "href=\"http", "@import", "url(http", "<link "})
        EXPECT_EQ(page.find(ref), std::string::npos) << ref;

    const std::string url = "file://" + s.html.string();
    std::string dom = chromium("--dump-dom", url);
    std::string svg = flame_svg(dom);
    ASSERT_FALSE(svg.empty()) << dom.substr(0, 2000);
    // Drawn by the script: leaked bytes first, so the leak sites and their key are frames.
    EXPECT_NE(svg.find("data-rendered=\""), std::string::npos);
    EXPECT_EQ(svg.find("data-rendered=\"0\""), std::string::npos);
    for (const char *site : {"leak_site_alpha", "leak_site_beta", "leaky", "main"})
        EXPECT_NE(svg.find(std::string("aria-label=\"") + site + "\""), std::string::npos) << site << "\n" << svg;
    EXPECT_EQ(svg.find("held_site_delta"), std::string::npos) << "outstanding bytes are another metric";
    // The static tables name every site and key.
    for (const char *site : {"held_site_delta", "cleanup_site_gamma", "holder", "crashy"})
        EXPECT_NE(dom.find(site), std::string::npos) << site;

    // Another metric, chosen in the URL: the open key's blocks.
    svg = flame_svg(chromium("--dump-dom", url + "#metric=outstanding"));
    EXPECT_NE(svg.find("aria-label=\"held_site_delta\""), std::string::npos) << svg;
    EXPECT_EQ(svg.find("aria-label=\"leak_site_beta\""), std::string::npos) << svg;
    svg = flame_svg(chromium("--dump-dom", url + "#metric=reclaimed"));
    EXPECT_NE(svg.find("aria-label=\"cleanup_site_gamma\""), std::string::npos) << svg;

    // Search: matching frames are highlighted and their share is shown.
    dom = chromium("--dump-dom", url + "#search=leak_site_beta");
    svg = flame_svg(dom);
    EXPECT_NE(svg.find("class=\"n hit\" data-i=\""), std::string::npos) << svg;
    const std::string match = element_text(dom, "fg-match");
    EXPECT_NE(match.find("1 frame matches"), std::string::npos) << match;
    EXPECT_NE(match.find("4,096 bytes"), std::string::npos) << match;
    EXPECT_NE(match.find("93.2% of the total"), std::string::npos) << match;
}

TEST_F(Html, ScreenshotShowsThePage) {
    const LeakSites s = run_leak_sites(dir_.path());
    const fs::path png = dir_.path() / "report.png";
    chromium("--window-size=1280,900 --hide-scrollbars --screenshot=" + quote(png.string()),
             "file://" + s.html.string() + "#search=leak_site");
    std::string bytes;
    ASSERT_TRUE(nm::test::read_text(png.string(), &bytes)) << "no screenshot written";
    ASSERT_GT(bytes.size(), 24u);
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    auto be32 = [&](size_t at) {
        return uint32_t(uint8_t(bytes[at])) << 24 | uint32_t(uint8_t(bytes[at + 1])) << 16 |
               uint32_t(uint8_t(bytes[at + 2])) << 8 | uint32_t(uint8_t(bytes[at + 3]));
    };
    EXPECT_EQ(be32(16), 1280u); // IHDR width
    EXPECT_EQ(be32(20), 900u);  // IHDR height
    // A blank page compresses to a few kilobytes; a rendered report with a graph does not.
    EXPECT_GT(bytes.size(), 30000u);
    if (const char *keep = std::getenv("NMLEAK_KEEP_SCREENSHOT"); keep && *keep) fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
}

TEST_F(Html, HostileNamesStayText) {
    // Names that would break out of the markup or the data script if they were not escaped.
    nm::model::Snapshot snap = nm::test::sample_snapshot();
    snap.experts[0].name = "</script><script>document.title='pwned'</script>";
    snap.frames[0].function = "<img src=x onerror=\"document.title='pwned'\">";
    const fs::path html = dir_.path() / "hostile.html";
    std::string error;
    ASSERT_TRUE(nm::report::write_file(snap, html.string(), "", &error)) << error;
    const std::string dom = chromium("--dump-dom", "file://" + html.string());
    EXPECT_EQ(dom.find("pwned</title>"), std::string::npos);
    EXPECT_NE(dom.find("<title>nmleak"), std::string::npos) << dom.substr(0, 1000);
    const std::string svg = flame_svg(dom);
    EXPECT_NE(svg.find("img src=x onerror="), std::string::npos) << svg; // as text, in a label
    EXPECT_EQ(dom.find("<img src=\"x\""), std::string::npos) << "a name became an element";
}

} // namespace

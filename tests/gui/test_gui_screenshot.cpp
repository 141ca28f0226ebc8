// test_gui_screenshot.cpp - nmleak-gui renders real views headlessly (under Xvfb) and writes PNGs with
// content; without a display it fails with a clear message instead of crashing.
#include <gtest/gtest.h>

#include <stb/stb_image.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

namespace {

namespace fs = std::filesystem;

struct RunResult {
    int exit_code = -1; // -1: killed by a signal
    std::string output; // stdout and stderr
};

RunResult run(const std::string &cmd) {
    RunResult r;
    FILE *p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return r;
    std::array<char, 512> buf{};
    while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

struct PixelStats {
    int width = 0, height = 0;
    double luma_stddev = 0;
    size_t distinct_colors = 0;
    double colored_fraction = 0; // saturated (non-grey) pixels
    double non_background = 0;   // pixels away from the window background
};

bool analyze(const std::string &png, PixelStats *out) {
    int w = 0, h = 0, n = 0;
    unsigned char *px = stbi_load(png.c_str(), &w, &h, &n, 3);
    if (!px) return false;
    out->width = w;
    out->height = h;
    double sum = 0, sum2 = 0;
    size_t colored = 0, non_bg = 0;
    std::set<uint32_t> colors;
    const size_t count = size_t(w) * size_t(h);
    for (size_t i = 0; i < count; ++i) {
        const int r = px[i * 3], g = px[i * 3 + 1], b = px[i * 3 + 2];
        const double y = 0.299 * r + 0.587 * g + 0.114 * b;
        sum += y;
        sum2 += y * y;
        if (std::max({r, g, b}) - std::min({r, g, b}) > 60) ++colored;
        if (std::abs(r - 27) + std::abs(g - 28) + std::abs(b - 31) > 24) ++non_bg;
        if (colors.size() < 100000) colors.insert(uint32_t(r) << 16 | uint32_t(g) << 8 | uint32_t(b));
    }
    stbi_image_free(px);
    const double mean = sum / double(count);
    out->luma_stddev = std::sqrt(std::max(0.0, sum2 / double(count) - mean * mean));
    out->distinct_colors = colors.size();
    out->colored_fraction = double(colored) / double(count);
    out->non_background = double(non_bg) / double(count);
    return true;
}

// Pixels within `tol` of the colour (r, g, b) in each channel.
size_t count_color(const std::string &png, int r, int g, int b, int tol = 6) {
    int w = 0, h = 0, n = 0;
    unsigned char *px = stbi_load(png.c_str(), &w, &h, &n, 3);
    if (!px) return 0;
    size_t count = 0;
    for (size_t i = 0; i < size_t(w) * size_t(h); ++i)
        if (std::abs(px[i * 3] - r) <= tol && std::abs(px[i * 3 + 1] - g) <= tol && std::abs(px[i * 3 + 2] - b) <= tol) ++count;
    stbi_image_free(px);
    return count;
}

// The fraction of pixels that differ between two same-sized PNGs (-1 when they cannot be compared).
double differing(const std::string &a, const std::string &b) {
    int wa = 0, ha = 0, wb = 0, hb = 0, n = 0;
    unsigned char *pa = stbi_load(a.c_str(), &wa, &ha, &n, 3);
    unsigned char *pb = stbi_load(b.c_str(), &wb, &hb, &n, 3);
    double out = -1;
    if (pa && pb && wa == wb && ha == hb) {
        size_t diff = 0;
        for (size_t i = 0; i < size_t(wa) * size_t(ha); ++i)
            if (std::abs(pa[i * 3] - pb[i * 3]) + std::abs(pa[i * 3 + 1] - pb[i * 3 + 1]) + std::abs(pa[i * 3 + 2] - pb[i * 3 + 2]) > 30)
                ++diff;
        out = double(diff) / double(size_t(wa) * size_t(ha));
    }
    if (pa) stbi_image_free(pa);
    if (pb) stbi_image_free(pb);
    return out;
}

// The colour the GUI marks search matches with (Theme::match).
constexpr int kMatchR = 236, kMatchG = 64, kMatchB = 212;

class GuiScreenshot : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("nmgui-shot-" + std::to_string(getpid()));
        fs::create_directories(dir_);
        for (int phase : {1, 2}) {
            const std::string out = (dir_ / ("phase" + std::to_string(phase) + ".nmsnap")).string();
            ASSERT_EQ(run(std::string(NMGUI_MAKE_SNAPSHOT) + " " + out + " --phase " + std::to_string(phase)).exit_code, 0);
        }
    }
    static void TearDownTestSuite() { fs::remove_all(dir_); }
    void SetUp() override {
        const char *d = std::getenv("DISPLAY");
        if (!d || !*d) GTEST_SKIP() << "no DISPLAY: run the GUI tests under xvfb-run -a";
    }
    static std::string path(const std::string &name) { return (dir_ / name).string(); }
    static fs::path dir_;
};
fs::path GuiScreenshot::dir_;

const std::string kGui = NMGUI_BIN;

TEST_F(GuiScreenshot, EveryViewOfAnOfflineSnapshotHasContent) {
    for (const char *view : {"experts", "timeline", "bottom-up", "top-down", "flame", "blocks", "treemap", "cleanups", "misuse", "events", "diff"}) {
        SCOPED_TRACE(view);
        const std::string png = path(std::string(view) + ".png");
        const RunResult r = run(kGui + " --screenshot " + png + " --view " + view + " --width 1280 --height 800 --open " +
                                path("phase2.nmsnap") + " --compare " + path("phase1.nmsnap"));
        ASSERT_EQ(r.exit_code, 0) << r.output;
        PixelStats st;
        ASSERT_TRUE(analyze(png, &st)) << png;
        EXPECT_EQ(st.width, 1280);
        EXPECT_EQ(st.height, 800);
        EXPECT_GT(st.luma_stddev, 12.0);        // not a blank frame
        EXPECT_GT(st.distinct_colors, 200u);    // text antialiasing, swatches, charts
        EXPECT_GT(st.colored_fraction, 0.002);  // key and state colours are drawn
        EXPECT_GT(st.non_background, 0.04);
    }
}

TEST_F(GuiScreenshot, FilterToOneKey) {
    const std::string png = path("filtered.png");
    const RunResult r = run(kGui + " --screenshot " + png + " --view bottom-up --expert http_parser --open " + path("phase1.nmsnap"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.find("no key named"), std::string::npos) << r.output;
    PixelStats st;
    ASSERT_TRUE(analyze(png, &st));
    EXPECT_GT(st.luma_stddev, 12.0);
}

TEST_F(GuiScreenshot, FlameGraphFollowsTheSelectedKeyAndTheSearch) {
    auto shot = [&](const std::string &name, const std::string &args) {
        const std::string png = path(name);
        const RunResult r = run(kGui + " --screenshot " + png + " --view flame --width 1280 --height 800 --open " +
                                path("phase2.nmsnap") + " " + args);
        EXPECT_EQ(r.exit_code, 0) << r.output;
        EXPECT_EQ(r.output.find("no key named"), std::string::npos) << r.output;
        return png;
    };
    const std::string all = shot("flame-all.png", "");
    const std::string key = shot("flame-key.png", "--expert proto_dist");
    const std::string found = shot("flame-search.png", "--search http_read_body");
    const std::string file = shot("flame-search-module.png", "--search module:make_gui_snapshot");
    const std::string none = shot("flame-nomatch.png", "--search no_such_function_anywhere");
    PixelStats st;
    ASSERT_TRUE(analyze(all, &st));
    EXPECT_GT(st.luma_stddev, 12.0);
    EXPECT_GT(st.colored_fraction, 0.03); // the graph's warm frames fill a good part of the window
    // Another key: another graph.
    EXPECT_GT(differing(all, key), 0.02);
    // The search: matching frames in the match colour, which nothing else draws.
    const size_t match_all = count_color(all, kMatchR, kMatchG, kMatchB);
    const size_t match_found = count_color(found, kMatchR, kMatchG, kMatchB);
    EXPECT_LT(match_all, 50u);
    EXPECT_GT(match_found, 2000u);
    EXPECT_GT(differing(all, found), 0.02);
    // Every frame of the test program matches the module search: more of it than one function.
    EXPECT_GT(count_color(file, kMatchR, kMatchG, kMatchB), match_found);
    // No match: the graph greys out, nothing is highlighted.
    EXPECT_LT(count_color(none, kMatchR, kMatchG, kMatchB), 50u);
    EXPECT_GT(differing(all, none), 0.02);
    // At 1280x800 with this snapshot the third row (y 334-351, below the key table and its kind
    // filter) starts with http_read_body, over two thirds of the width: clicking it zooms in (it
    // and its callers become full width), and resting the mouse on it shows its tooltip.
    const std::string zoomed = shot("flame-zoomed.png", "--click 300,342");
    const std::string hover = shot("flame-hover.png", "--mouse 300,342");
    EXPECT_GT(differing(all, zoomed), 0.003);
    EXPECT_GT(differing(all, hover), 0.01);
    // Another measure: the reclaimed bytes of the forced cleanups are another graph.
    const std::string reclaimed = shot("flame-reclaimed.png", "--measure reclaimed");
    EXPECT_GT(differing(all, reclaimed), 0.02);
    const std::string outstanding = shot("flame-outstanding.png", "--measure outstanding");
    EXPECT_LT(differing(all, outstanding), 0.005); // the default for data with outstanding blocks
    // Zoomed into the matching frame, the whole row is highlighted: more match colour than before.
    const std::string zoomed_found = shot("flame-zoomed-search.png", "--click 300,342 --search http_read_body");
    EXPECT_GT(count_color(zoomed_found, kMatchR, kMatchG, kMatchB), match_found);
}

TEST_F(GuiScreenshot, SearchFiltersTheCallTreesAndTheBlockList) {
    for (const char *view : {"bottom-up", "top-down", "blocks"}) {
        SCOPED_TRACE(view);
        const std::string plain = path(std::string("plain-") + view + ".png");
        const std::string searched = path(std::string("searched-") + view + ".png");
        const std::string base = kGui + " --view " + view + " --width 1280 --height 800 --open " + path("phase2.nmsnap");
        ASSERT_EQ(run(base + " --screenshot " + plain).exit_code, 0);
        const RunResult r = run(base + " --screenshot " + searched + " --search fn:http_read_body");
        ASSERT_EQ(r.exit_code, 0) << r.output;
        EXPECT_GT(differing(plain, searched), 0.005);
        PixelStats st;
        ASSERT_TRUE(analyze(searched, &st));
        EXPECT_GT(st.luma_stddev, 12.0);
    }
    // The call trees mark the matching frames.
    EXPECT_GT(count_color(path("searched-bottom-up.png"), kMatchR, kMatchG, kMatchB), 20u);
    EXPECT_LT(count_color(path("plain-bottom-up.png"), kMatchR, kMatchG, kMatchB), 20u);
}

TEST_F(GuiScreenshot, AnUnreadableSnapshotIsReportedNotFatal) {
    const std::string png = path("missing.png");
    const RunResult r = run(kGui + " --screenshot " + png + " --open " + path("does-not-exist.nmsnap"));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("does-not-exist.nmsnap"), std::string::npos) << r.output;
    // The window still rendered (with the error in the status line).
    PixelStats st;
    ASSERT_TRUE(analyze(png, &st));
    EXPECT_GT(st.luma_stddev, 5.0);
}

TEST_F(GuiScreenshot, UnknownViewIsAUsageError) {
    const RunResult r = run(kGui + " --screenshot " + path("x.png") + " --view nonsense --open " + path("phase1.nmsnap"));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("unknown view"), std::string::npos) << r.output;
}

// A FIFO with no writer: refused at once, by name, and the headless run ends (coreutils' timeout
// would end a run that blocks, with status 124).
TEST_F(GuiScreenshot, AFifoIsRefusedAndTheRunEnds) {
    const std::string fifo = path("fifo.nmsnap");
    fs::remove(fifo);
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    const std::string png = path("fifo.png");
    const RunResult r = run("timeout -s KILL 60 " + kGui + " --timeout 5 --screenshot " + png + " --open " + fifo);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("FIFO"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(fifo), std::string::npos) << r.output;
    EXPECT_TRUE(fs::exists(png)) << "the window rendered the error";
    // --compare reads a file too.
    const RunResult cmp = run("timeout -s KILL 60 " + kGui + " --timeout 5 --screenshot " + png + " --open " +
                              path("phase1.nmsnap") + " --compare " + fifo);
    EXPECT_NE(cmp.exit_code, -1) << cmp.output;
    EXPECT_NE(cmp.exit_code, 124) << cmp.output;
    EXPECT_NE(cmp.output.find("FIFO"), std::string::npos) << cmp.output;
}

TEST(GuiNoDisplay, FailsWithAClearMessage) {
    const std::string png = (fs::temp_directory_path() / ("nmgui-nodisplay-" + std::to_string(getpid()) + ".png")).string();
    const RunResult r = run("env -u DISPLAY -u WAYLAND_DISPLAY " + kGui + " --screenshot " + png);
    EXPECT_EQ(r.exit_code, 2) << r.output; // not a crash (-1)
    EXPECT_NE(r.output.find("no display"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(png));
    // An X display that does not exist.
    const RunResult bad = run("env DISPLAY=:4711 " + kGui + " --screenshot " + png);
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_NE(bad.output.find("cannot open the display"), std::string::npos) << bad.output;
}

} // namespace

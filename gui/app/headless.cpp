// headless.cpp - renders the real views into an offscreen framebuffer and writes a PNG; optionally
// times frames per view (the GUI benchmark).
#include "headless.hpp"

#include "app.hpp"
#include "window.hpp"

#include <imgui.h>

#include <nmleak/text.hpp>

#include <algorithm>
#include <cstdio>

namespace nm::gui {
namespace {

struct FrameStats {
    std::vector<double> ms, cpu_ms;
    size_t vertices = 0;
    double percentile(double p) const {
        if (ms.empty()) return 0;
        std::vector<double> v = ms;
        std::sort(v.begin(), v.end());
        return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
    }
};

// One frame; returns its wall time, and in *cpu_ms the part spent building the UI (the rest is
// OpenGL drawing: with Mesa's software rasterizer under Xvfb, most of it).
double render_one(Window &window, App &app, double *cpu_ms = nullptr, size_t *vertices = nullptr) {
    const double t0 = now_ms();
    window.wait_events(0);
    window.new_frame();
    app.frame();
    const double t1 = now_ms();
    window.render(); // ends with glFinish offscreen: the frame is really drawn
    if (cpu_ms) *cpu_ms = t1 - t0;
    if (vertices) *vertices = size_t(ImGui::GetDrawData()->TotalVtxCount);
    return now_ms() - t0;
}

void apply_filter(const Options &o, App &app, const ModelData &m) {
    app.ui().search = o.search;
    app.ui().flame_measure = o.flame_measure;
    if (!o.kind.empty()) app.ui().key_kind = int(o.kind == "module" ? model::KeyKind::Module : model::KeyKind::Expert);
    if (o.expert.empty()) return;
    for (const auto &e : m.snap->experts)
        if (e.name == o.expert) {
            app.ui().select_expert(e.id);
            return;
        }
    std::fprintf(stderr, "nmleak-gui: no key named '%s'; showing every key\n", text::escape(o.expert).c_str());
}

} // namespace

void start_sources(const Options &o, Session &session) {
    if (!o.open.empty()) session.open_file(o.open);
    else if (o.connect_pid > 0) session.connect(o.connect_pid);
    else if (o.attach_pid > 0) session.attach(o.attach_pid);
}

int run_headless(const Options &o, Window &window, App &app, Session &session, double t_start_ms) {
    const bool wants_data = !o.open.empty() || o.connect_pid > 0 || o.attach_pid > 0;
    if (!o.view.empty()) {
        const auto tab = parse_tab(o.view);
        if (!tab) {
            std::fprintf(stderr, "nmleak-gui: unknown view '%s'\n", text::escape(o.view).c_str());
            return 1;
        }
        app.ui().select_tab(*tab);
    }

    // Render while the data loads (as the interactive loop would) until it is up and idle.
    FrameStats loading;
    double first_full_frame = -1;
    const double deadline = now_ms() + o.timeout_s * 1000.0;
    bool compared = o.compare.empty();
    while (now_ms() < deadline) {
        loading.ms.push_back(render_one(window, app));
        const bool have = app.drawn().generation > 0;
        if (have && first_full_frame < 0) {
            first_full_frame = now_ms() - t_start_ms;
            apply_filter(o, app, app.drawn());
        }
        const StatusLine st = session.status();
        if (have && !compared) {
            session.compare(o.compare, "");
            compared = true;
            continue;
        }
        if ((have || !wants_data) && !st.busy && session.wait_idle(0)) break;
        // Failed before any data (no such file, refused connection): show the error and stop.
        if (!have && !st.busy && st.level == Level::Error) break;
    }
    // Scripted input: clicks (press one frame, release the next), then the resting mouse.
    for (const auto &[x, y] : o.clicks) {
        window.set_scripted_mouse(true, x, y, false);
        render_one(window, app);
        window.set_scripted_mouse(true, x, y, true);
        render_one(window, app);
        window.set_scripted_mouse(true, x, y, false);
        render_one(window, app);
        render_one(window, app);
    }
    if (o.mouse.size() == 2) window.set_scripted_mouse(true, o.mouse[0], o.mouse[1], false);
    else window.set_scripted_mouse(false, 0, 0, false);

    // Live: watch for a while (updates arrive, the timeline grows, the target may go away).
    for (const double until = now_ms() + o.hold_s * 1000.0; now_ms() < until;) {
        render_one(window, app);
        window.wait_events(1.0 / 30);
    }
    for (int i = 0; i < std::max(2, o.frames); ++i) render_one(window, app);

    const StatusLine st = session.status();
    const bool have = app.drawn().generation > 0;
    if (o.stats) {
        std::printf("load: %.1f ms (read %.1f ms, views %.1f ms)\n", first_full_frame, app.drawn().load_ms,
                    app.drawn().build_ms);
        std::printf("frames while loading: %zu, p50 %.2f ms, p95 %.2f ms, max %.2f ms\n", loading.ms.size(),
                    loading.percentile(0.5), loading.percentile(0.95), loading.percentile(1.0));
    }
    if (o.bench_frames > 0) {
        FrameStats all;
        for (int t = 0; t < int(Tab::Count); ++t) {
            if (Tab(t) == Tab::Processes || Tab(t) == Tab::Diff) continue;
            app.ui().select_tab(Tab(t));
            for (int i = 0; i < 3; ++i) render_one(window, app); // first frames build per-view caches
            FrameStats view;
            for (int i = 0; i < o.bench_frames; ++i) {
                double cpu = 0;
                view.ms.push_back(render_one(window, app, &cpu, &view.vertices));
                view.cpu_ms.push_back(cpu);
            }
            all.ms.insert(all.ms.end(), view.ms.begin(), view.ms.end());
            all.cpu_ms.insert(all.cpu_ms.end(), view.cpu_ms.begin(), view.cpu_ms.end());
            std::printf("view %-10s p50 %6.2f ms  p95 %6.2f ms  max %6.2f ms   UI build p50 %5.2f p95 %5.2f ms  %zu vertices\n",
                        tab_name(Tab(t)), view.percentile(0.5), view.percentile(0.95), view.percentile(1.0),
                        FrameStats{view.cpu_ms, {}, 0}.percentile(0.5), FrameStats{view.cpu_ms, {}, 0}.percentile(0.95),
                        view.vertices);
        }
        std::printf("all views  p50 %6.2f ms  p95 %6.2f ms  max %6.2f ms   UI build p50 %5.2f p95 %5.2f ms  (%zu frames, %dx%d)\n",
                    all.percentile(0.5), all.percentile(0.95), all.percentile(1.0),
                    FrameStats{all.cpu_ms, {}, 0}.percentile(0.5), FrameStats{all.cpu_ms, {}, 0}.percentile(0.95),
                    all.ms.size(), window.width(), window.height());
        if (!o.view.empty()) {
            app.ui().select_tab(*parse_tab(o.view));
            for (int i = 0; i < 3; ++i) render_one(window, app);
        }
    }

    if (!o.screenshot.empty()) {
        std::string error;
        if (!window.write_png(o.screenshot, &error)) {
            std::fprintf(stderr, "nmleak-gui: %s\n", text::escape_lines(error).c_str());
            return 1;
        }
    }
    if (!st.message.empty() && (st.level == Level::Error || st.level == Level::Warning))
        std::fprintf(stderr, "nmleak-gui: %s\n", text::escape_lines(st.message).c_str());
    if (wants_data && !have) {
        if (now_ms() >= deadline) std::fprintf(stderr, "nmleak-gui: no data after %.0f s\n", o.timeout_s);
        return 1;
    }
    return 0;
}

} // namespace nm::gui

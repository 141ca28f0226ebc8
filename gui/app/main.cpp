// main.cpp - nmleak-gui: parses the command line, opens the window and runs the frame loop (or the headless mode).
#include "app.hpp"
#include "headless.hpp"
#include "window.hpp"

#include "flame.hpp"

#include <CLI/CLI.hpp>
#include <imgui.h>
#include <nmleak/text.hpp>

#include <cstdio>
#include <cstdlib>

#ifndef NMLEAK_VERSION
#define NMLEAK_VERSION "0.0.0"
#endif

namespace {

int parse(int argc, char **argv, nm::gui::Options *o) {
    CLI::App cli{"nmleak-gui: watch the memory of Network Monitor experts live, or open a saved snapshot", "nmleak-gui"};
    cli.set_version_flag("--version", NMLEAK_VERSION);
    std::string positional;
    cli.add_option("snapshot", positional, "A snapshot file to open (same as --open)");
    auto *open = cli.add_option("--open", o->open, "Open a saved snapshot file (.nmsnap)");
    auto *connect = cli.add_option("--connect", o->connect_pid, "Connect to the agent of a running process")->check(CLI::PositiveNumber);
    auto *attach = cli.add_option("--attach", o->attach_pid, "Inject the agent into a process (nmleak attach), then connect")
                       ->check(CLI::PositiveNumber);
    open->excludes(connect)->excludes(attach);
    connect->excludes(attach);
    cli.add_option("--compare", o->compare, "Compare this earlier snapshot file with what is open (the Diff view)");
    cli.add_option("--screenshot", o->screenshot, "Headless: render to this PNG file and exit");
    cli.add_option("--frames", o->frames, "Headless: frames to render before the capture")->check(CLI::Range(1, 10000));
    cli.add_option("--view", o->view,
                   "View to show: experts, timeline, bottom-up, top-down, flame, blocks, treemap, cleanups, misuse, diff, processes");
    cli.add_option("--expert", o->expert, "Filter every view to the first key with this name");
    cli.add_option("--kind", o->kind, "Experts table: show only keys of this kind (expert or module)")
        ->check(CLI::IsMember({"expert", "module"}));
    cli.add_option("--search", o->search,
                   "Search frames by function, file or module (fn:, file:, module: for one field): the flame graph "
                   "highlights them, the call trees and block list keep only matching stacks");
    std::string measure;
    cli.add_option("--measure", measure, "What the flame graph's widths measure: outstanding, leaked, reclaimed, retained, all")
        ->check(CLI::IsMember({"outstanding", "leaked", "reclaimed", "retained", "all"}));
    cli.add_option("--width", o->width, "Window width")->check(CLI::Range(320, 8192));
    cli.add_option("--height", o->height, "Window height")->check(CLI::Range(240, 8192));
    cli.add_option("--timeout", o->timeout_s, "Headless: seconds to wait for the data")->check(CLI::Range(0.1, 3600.0));
    cli.add_option("--hold", o->hold_s, "Headless: keep rendering this many seconds after the data is up")
        ->check(CLI::Range(0.0, 3600.0));
    cli.add_option("--bench-frames", o->bench_frames, "Headless: time this many frames of every view and print percentiles");
    std::vector<std::string> clicks;
    cli.add_option("--click", clicks, "Headless: click the left button at X,Y once the data is up (repeatable)");
    cli.add_option("--mouse", o->mouse, "Headless: rest the mouse at X,Y for the capture (hover)")->delimiter(',')->expected(2);
    cli.add_flag("--stats", o->stats, "Print load and frame timings");
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        const int rc = cli.exit(e);
        return rc == 0 ? 0 : 1;
    }
    o->flame_measure = measure.empty() ? -1 : nm::gui::parse_flame_measure(measure);
    for (const std::string &c : clicks) {
        float x = 0, y = 0;
        if (std::sscanf(c.c_str(), "%f,%f", &x, &y) != 2) {
            std::fprintf(stderr, "nmleak-gui: --click wants X,Y, not '%s'\n", nm::text::escape(c).c_str());
            return 1;
        }
        o->clicks.emplace_back(x, y);
    }
    if (!positional.empty()) {
        if (!o->open.empty() || o->connect_pid || o->attach_pid) {
            std::fprintf(stderr, "nmleak-gui: give one source: a snapshot file, --open, --connect or --attach\n");
            return 1;
        }
        o->open = positional;
    }
    if (o->bench_frames > 0 && o->screenshot.empty()) o->screenshot = "/dev/null";
    return -1;
}

} // namespace

int main(int argc, char **argv) {
    using namespace nm::gui;
    Options o;
    if (const int rc = parse(argc, argv, &o); rc >= 0) return rc;
    const bool headless = !o.screenshot.empty();
    const double t_start = now_ms();

    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    ImGui::GetIO().IniFilename = nullptr; // layout is computed, not saved
    const Theme theme = setup_theme();

    std::string error;
    Window::Options wo;
    wo.width = o.width;
    wo.height = o.height;
    wo.visible = !headless;
    wo.title = "nmleak";
    std::unique_ptr<Window> window = Window::create(wo, &error);
    if (!window) {
        std::fprintf(stderr, "nmleak-gui: %s\n", nm::text::escape_lines(error).c_str());
        ImGui::DestroyContext();
        return 2;
    }

    int rc = 0;
    {
        Session session;
        ProcessScanner procs;
        session.set_wake(&Window::wake);
        procs.set_wake(&Window::wake);
        App app(session, procs, theme);
        start_sources(o, session);
        if (headless) {
            if (o.screenshot == "/dev/null") o.screenshot.clear();
            rc = run_headless(o, *window, app, session, t_start);
        } else {
            if (!o.view.empty())
                if (auto tab = parse_tab(o.view)) app.ui().select_tab(*tab);
            app.ui().search = o.search;
            app.ui().flame_measure = o.flame_measure;
            bool compared = o.compare.empty();
            int settle = 3; // ImGui lays tables out over a couple of frames after a change
            while (!window->should_close() && !app.quit_requested()) {
                const StatusLine st = session.status();
                window->wait_events(settle > 0 ? 0.0 : st.busy || st.live ? 0.05 : 0.5);
                const uint64_t before = app.drawn().serial;
                window->new_frame();
                app.frame();
                window->render();
                settle = app.drawn().serial != before || ImGui::IsAnyMouseDown() ? 3 : settle - 1;
                if (!compared && app.drawn().generation > 0) {
                    session.compare(o.compare, "");
                    app.ui().select_tab(Tab::Diff);
                    compared = true;
                }
            }
        }
        // A source that still has not answered when the headless timeout ended the run (a read
        // that never returns) must not keep the process alive: end without joining it.
        if (headless && rc != 0 && !session.wait_idle(2000)) {
            std::fprintf(stderr, "nmleak-gui: %s still not answering; exiting without it\n",
                         session.status().connection.empty() ? "the source" : nm::text::escape(session.status().connection).c_str());
            std::fflush(nullptr);
            std::_Exit(rc);
        }
        // Session and scanner stop their threads here, before the window and ImGui go away.
    }
    window.reset();
    ImGui::DestroyContext();
    return rc;
}

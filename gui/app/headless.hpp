// headless.hpp - the command line's options, and the screenshot/benchmark mode that renders the real views offscreen.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace nm::gui {

class App;
class Session;
class Window;

struct Options {
    std::string open;       // snapshot file
    int connect_pid = 0;    // live: connect to a running agent
    int attach_pid = 0;     // live: inject the agent first
    std::string compare;    // before-snapshot to compare with what is open
    std::string screenshot; // PNG to write (headless mode)
    int frames = 4;         // frames rendered before the capture (layout settles in 2)
    std::string view;       // tab to show: experts, timeline, bottom-up, ...
    std::string expert;     // filter to the first key with this name
    std::string kind;       // experts table: show only keys of this kind ("expert", "module")
    std::string search;     // the search of the flame graph, call trees and block list
    int flame_measure = -1; // FlameMeasure of the flame graph; -1: by the data
    int width = 1600, height = 1000;
    double timeout_s = 30;  // headless: how long to wait for data
    double hold_s = 0;      // headless: keep rendering this long after the data is up (live)
    int bench_frames = 0;   // headless: frames to time per view after the data is up
    bool stats = false;     // print load/build/frame timings
    std::vector<std::pair<float, float>> clicks; // headless: left clicks, in order, once the data is up
    std::vector<float> mouse;                    // headless: where the mouse rests for the capture (x, y)
};

// Starts the sources the options name (open, connect, attach).
void start_sources(const Options &o, Session &session);

// The screenshot / benchmark run: waits for the data, applies the view and filter, renders
// `frames` frames, writes the PNG. Returns the process exit code.
int run_headless(const Options &o, Window &window, App &app, Session &session, double t_start_ms);

} // namespace nm::gui

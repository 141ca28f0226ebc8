// app.hpp - the main window: menu bar, toolbar, experts table, the tabbed views, dialogs and status line.
//
// App lays things out and routes input; each view draws itself (views.hpp), the dialogs and the
// help window live in dialogs.cpp; the shortcuts are dispatched at the end of app.cpp.
#pragma once

#include "experts_view.hpp"
#include "view.hpp"

#include <memory>
#include <vector>

namespace nm::gui {

class App {
public:
    App(Session &session, ProcessScanner &procs, const Theme &theme);
    ~App();

    // Builds one frame of UI (between ImGui::NewFrame and ImGui::Render).
    void frame();
    UiState &ui() { return ui_; }
    bool quit_requested() const { return quit_; }
    // The model the last frame drew (generation 0 before anything was loaded).
    const ModelData &drawn() const { return *model_; }

private:
    void menu_bar(ViewContext &ctx);
    void toolbar(ViewContext &ctx);
    void tabs(ViewContext &ctx);
    void status_line(ViewContext &ctx, float height);
    void shortcuts(ViewContext &ctx);
    void dialogs(ViewContext &ctx);
    void help_window(ViewContext &ctx);
    void request_terminate(ViewContext &ctx);

    Session &session_;
    ProcessScanner &procs_;
    const Theme &theme_;
    UiState ui_;
    std::shared_ptr<const ModelData> model_;
    ExpertsTable experts_;
    std::vector<std::unique_ptr<View>> views_; // in Tab order
    float experts_height_ = 0; // the splitter's position
    bool experts_resized_ = false; // dragged by the user (a double-click fits the rows again)
    bool quit_ = false;
};

// Keyboard shortcuts as the help window lists them.
struct Shortcut {
    const char *keys;
    const char *action;
};
const std::vector<Shortcut> &shortcut_list();

} // namespace nm::gui

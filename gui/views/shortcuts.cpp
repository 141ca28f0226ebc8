// shortcuts.cpp - the keyboard shortcuts: one table, used both to dispatch and for the help window.
#include "app.hpp"

#include <GLFW/glfw3.h> // key codes only: the GLFW backend indexes io.KeysDown by them (ImGui 1.86)

namespace nm::gui {

const std::vector<Shortcut> &shortcut_list() {
    static const std::vector<Shortcut> list = {
        {"Ctrl+O", "Open a snapshot file"},
        {"Ctrl+S", "Save the snapshot shown"},
        {"Ctrl+E", "Export a report (text, JSON, SARIF, folded, snapshot)"},
        {"Ctrl+D", "Compare two snapshots"},
        {"Ctrl+P", "Processes: connect or attach"},
        {"F5", "Snapshot now (live)"},
        {"Ctrl+T", "Request terminate of the selected key (live)"},
        {"Ctrl+W", "Close the snapshot / detach"},
        {"Alt+1 .. Alt+0", "Switch view: Experts, Timeline, Bottom-up, Top-down, Blocks, Treemap, Cleanups, Misuse, Diff, Processes"},
        {"Ctrl+Tab", "Next view (Ctrl+Shift+Tab: previous)"},
        {"Esc", "Clear the stack selection, then the key filter"},
        {"Up / Down", "Move in a call tree"},
        {"Right / Left", "Expand / collapse a tree node"},
        {"Enter", "Show the blocks of the selected tree node"},
        {"Wheel / drag", "Zoom / pan the timeline (double-click resets)"},
        {"F1", "This help"},
        {"Ctrl+Q", "Quit"},
    };
    return list;
}

void App::shortcuts(ViewContext &ctx) {
    ImGuiIO &io = ImGui::GetIO();
    auto pressed = [](int key) { return ImGui::IsKeyPressed(key, false); };
    if (ui_.dialog != Dialog::None) return; // the dialog has the keyboard
    if (pressed(GLFW_KEY_ESCAPE) && !io.WantTextInput) {
        if (ui_.show_help) ui_.show_help = false;
        else if (ui_.selection.kind != StackSelection::Kind::None) ui_.selection = StackSelection{};
        else ui_.select_expert(std::nullopt);
        return;
    }
    if (io.WantTextInput) return;
    if (pressed(GLFW_KEY_F1)) ui_.show_help = !ui_.show_help;
    if (pressed(GLFW_KEY_F5)) session_.request_snapshot();
    if (io.KeyCtrl && !io.KeyAlt) {
        if (pressed(GLFW_KEY_O)) ui_.open_dialog(Dialog::Open);
        if (pressed(GLFW_KEY_S) && ctx.m.source.kind != SourceKind::None) ui_.open_dialog(Dialog::Save);
        if (pressed(GLFW_KEY_E) && ctx.m.source.kind != SourceKind::None) ui_.open_dialog(Dialog::Export);
        if (pressed(GLFW_KEY_D)) ui_.open_dialog(Dialog::Compare);
        if (pressed(GLFW_KEY_P)) ui_.select_tab(Tab::Processes);
        if (pressed(GLFW_KEY_T)) request_terminate(ctx);
        if (pressed(GLFW_KEY_W)) session_.close();
        if (pressed(GLFW_KEY_Q)) quit_ = true;
        if (pressed(GLFW_KEY_TAB)) {
            const int n = int(Tab::Count);
            ui_.select_tab(Tab((int(ui_.tab) + (io.KeyShift ? n - 1 : 1)) % n));
        }
    }
    if (io.KeyAlt && !io.KeyCtrl) {
        for (int i = 0; i < int(Tab::Count); ++i)
            if (pressed(GLFW_KEY_0 + (i + 1) % 10)) ui_.select_tab(Tab(i));
    }
}

} // namespace nm::gui

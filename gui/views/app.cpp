// app.cpp - the main window's layout (menu bar, toolbar, experts table with a splitter, tabs, status
// line) and its keyboard shortcuts.
#include "app.hpp"

#include "format.hpp"
#include "views.hpp"
#include "widgets.hpp"

#include <GLFW/glfw3.h> // key codes only: the GLFW backend indexes io.KeysDown by them (ImGui 1.86)

#include <algorithm>
#include <cmath>

namespace nm::gui {

const char *tab_title(Tab t) {
    switch (t) {
    case Tab::Overview: return "Experts";
    case Tab::Timeline: return "Timeline";
    case Tab::BottomUp: return "Bottom-up";
    case Tab::TopDown: return "Top-down";
    case Tab::Flame: return "Flame graph";
    case Tab::Blocks: return "Blocks";
    case Tab::Treemap: return "Treemap";
    case Tab::Cleanups: return "Cleanups";
    case Tab::Misuse: return "Misuse";
    case Tab::Events: return "Events";
    case Tab::Diff: return "Diff";
    case Tab::Processes: return "Processes";
    case Tab::Count: break;
    }
    return "?";
}

const char *tab_name(Tab t) {
    switch (t) {
    case Tab::Overview: return "experts";
    case Tab::Timeline: return "timeline";
    case Tab::BottomUp: return "bottom-up";
    case Tab::TopDown: return "top-down";
    case Tab::Flame: return "flame";
    case Tab::Blocks: return "blocks";
    case Tab::Treemap: return "treemap";
    case Tab::Cleanups: return "cleanups";
    case Tab::Misuse: return "misuse";
    case Tab::Events: return "events";
    case Tab::Diff: return "diff";
    case Tab::Processes: return "processes";
    case Tab::Count: break;
    }
    return "?";
}

std::optional<Tab> parse_tab(const std::string &name) {
    for (int i = 0; i < int(Tab::Count); ++i)
        if (name == tab_name(Tab(i))) return Tab(i);
    if (name == "overview") return Tab::Overview;
    if (name == "bottomup" || name == "stacks") return Tab::BottomUp;
    if (name == "topdown") return Tab::TopDown;
    if (name == "flamegraph" || name == "flame-graph" || name == "icicle") return Tab::Flame;
    return std::nullopt;
}

App::App(Session &session, ProcessScanner &procs, const Theme &theme)
    : session_(session), procs_(procs), theme_(theme), model_(empty_model()) {
    views_.push_back(make_overview_view());
    views_.push_back(make_timeline_view());
    views_.push_back(make_tree_view(TreeDirection::BottomUp));
    views_.push_back(make_tree_view(TreeDirection::TopDown));
    views_.push_back(make_flame_view());
    views_.push_back(make_blocks_view());
    views_.push_back(make_treemap_view());
    views_.push_back(make_cleanups_view());
    views_.push_back(make_misuse_view());
    views_.push_back(make_events_view());
    views_.push_back(make_diff_view());
    views_.push_back(make_process_view());
}

App::~App() = default;

void App::frame() {
    model_ = session_.current();
    int expert = -1;
    if (ui_.expert_id) {
        expert = find_expert(*model_->snap, *ui_.expert_id);
        if (expert < 0 && model_->generation > 0) ui_.select_expert(std::nullopt); // the key is gone
    }
    ViewContext ctx{*model_, *model_->snap, ui_, session_, procs_, theme_, expert};

    const ImGuiViewport *vp = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(vp->WorkPos);
    ImGui::SetNextWindowSize(vp->WorkSize);
    ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(6, 4));
    ImGui::Begin("nmleak", nullptr,
                 ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
                     ImGuiWindowFlags_MenuBar | ImGuiWindowFlags_NoBringToFrontOnFocus);
    ImGui::PopStyleVar();
    menu_bar(ctx);
    toolbar(ctx);

    const float status_h = ImGui::GetFrameHeight() + 2;
    const float avail = ImGui::GetContentRegionAvail().y - status_h;
    const float row_h = ImGui::GetTextLineHeightWithSpacing();
    // Until the splitter is dragged the table fits its rows, up to a third of the window.
    const float wanted = (float(model_->snap->experts.size()) + 3.0f) * row_h + 6; // + the kind filter line
    if (!experts_resized_) experts_height_ = std::clamp(wanted, row_h * 4, avail * 0.34f);
    experts_height_ = std::clamp(experts_height_, row_h * 3, std::max(row_h * 3, avail - row_h * 8));
    experts_.draw(ctx, experts_height_);

    // The splitter between the experts table and the tabs.
    ImGui::InvisibleButton("splitter", ImVec2(-1, 5));
    if (ImGui::IsItemActive() && ImGui::GetIO().MouseDelta.y != 0) {
        experts_height_ += ImGui::GetIO().MouseDelta.y;
        experts_resized_ = true;
    }
    if (ImGui::IsItemHovered() && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) experts_resized_ = false;
    if (ImGui::IsItemHovered() || ImGui::IsItemActive()) ImGui::SetMouseCursor(ImGuiMouseCursor_ResizeNS);
    const ImVec2 s0 = ImGui::GetItemRectMin(), s1 = ImGui::GetItemRectMax();
    ImGui::GetWindowDrawList()->AddLine(ImVec2(s0.x, (s0.y + s1.y) * 0.5f), ImVec2(s1.x, (s0.y + s1.y) * 0.5f),
                                        ImGui::GetColorU32(ImGui::IsItemHovered() ? ImGuiCol_SeparatorHovered : ImGuiCol_Separator));

    ImGui::BeginChild("tabs", ImVec2(0, ImGui::GetContentRegionAvail().y - status_h), false, ImGuiWindowFlags_NoScrollbar);
    tabs(ctx);
    ImGui::EndChild();
    status_line(ctx, status_h);
    ImGui::End();

    dialogs(ctx);
    help_window(ctx);
    shortcuts(ctx);
    if (ui_.tab != Tab::Processes) procs_.set_active(false);
}

void App::menu_bar(ViewContext &ctx) {
    if (!ImGui::BeginMenuBar()) return;
    const bool has_data = ctx.m.source.kind != SourceKind::None;
    const bool live = session_.is_live();
    if (ImGui::BeginMenu("File")) {
        if (ImGui::MenuItem("Open snapshot...", "Ctrl+O")) ui_.open_dialog(Dialog::Open);
        if (ImGui::MenuItem("Save snapshot...", "Ctrl+S", false, has_data)) ui_.open_dialog(Dialog::Save);
        if (ImGui::MenuItem("Export report...", "Ctrl+E", false, has_data)) ui_.open_dialog(Dialog::Export);
        if (ImGui::MenuItem("Compare snapshots...", "Ctrl+D")) ui_.open_dialog(Dialog::Compare);
        ImGui::Separator();
        if (ImGui::MenuItem("Close", "Ctrl+W", false, has_data)) session_.close();
        if (ImGui::MenuItem("Quit", "Ctrl+Q")) quit_ = true;
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("Process")) {
        if (ImGui::MenuItem("Processes...", "Ctrl+P")) ui_.select_tab(Tab::Processes);
        if (ImGui::MenuItem("Attach to PID...")) ui_.open_dialog(Dialog::Attach);
        ImGui::Separator();
        if (ImGui::MenuItem("Snapshot now", "F5", false, live)) session_.request_snapshot();
        if (ImGui::MenuItem("Request terminate of the selected key...", "Ctrl+T", false, live && ctx.filtered()))
            request_terminate(ctx);
        if (ImGui::MenuItem("Disconnect", "Ctrl+W", false, live)) session_.close();
        if (ImGui::MenuItem("Stop the agent (nmleak detach)", nullptr, false, live)) session_.stop_agent();
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("View")) {
        for (int i = 0; i < int(Tab::Count); ++i) {
            char keys[16] = "";
            if (i < 10) std::snprintf(keys, sizeof keys, "Alt+%d", (i + 1) % 10);
            else if (Tab(i) == Tab::Processes) std::snprintf(keys, sizeof keys, "Ctrl+P");
            if (ImGui::MenuItem(tab_title(Tab(i)), keys, ui_.tab == Tab(i))) ui_.select_tab(Tab(i));
        }
        ImGui::Separator();
        if (ImGui::MenuItem("Clear filter and selection", "Esc")) {
            ui_.select_expert(std::nullopt);
            ui_.selection = StackSelection{};
        }
        ImGui::MenuItem("Frame statistics", nullptr, &ui_.show_stats);
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu("Help")) {
        if (ImGui::MenuItem("Keyboard shortcuts and views", "F1")) ui_.show_help = true;
        ImGui::EndMenu();
    }
    ImGui::EndMenuBar();
}

void App::request_terminate(ViewContext &ctx) {
    const model::Expert *e = ctx.filtered();
    if (!e) {
        session_.set_message(Level::Warning, "Select a key in the experts table first");
        return;
    }
    if (e->state == model::ExpertState::Closed) {
        session_.set_message(Level::Warning, e->name + " is already closed");
        return;
    }
    ui_.terminate_id = e->id;
    ui_.terminate_name = e->name;
    ui_.open_dialog(Dialog::Terminate);
}

void App::toolbar(ViewContext &ctx) {
    const StatusLine st = session_.status();
    const bool has_data = ctx.m.source.kind != SourceKind::None;
    // Source indicator: a dot coloured by connection state, then what is open.
    const ImU32 dot = st.live ? theme_.ok : ctx.m.source.kind == SourceKind::Live ? theme_.error : theme_.dim;
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = ImGui::GetFrameHeight();
    ImGui::GetWindowDrawList()->AddCircleFilled(ImVec2(p.x + 6, p.y + h * 0.5f), 4.5f, dot);
    ImGui::Dummy(ImVec2(14, h));
    ImGui::SameLine();
    ImGui::AlignTextToFramePadding();
    ImGui::PushFont(theme_.bold);
    ImGui::TextUnformatted(st.live ? "LIVE" : ctx.m.source.kind == SourceKind::File ? "FILE" : ctx.m.source.kind == SourceKind::Live ? "ENDED" : "");
    ImGui::PopFont();
    ImGui::SameLine();
    const float label_w = std::max(120.0f, ImGui::GetContentRegionAvail().x * 0.36f);
    const std::string label = ctx.m.source.kind == SourceKind::File && !ctx.snap.process.command.empty()
                                  ? st.connection + "   (pid " + std::to_string(ctx.snap.process.pid) + ": " + ctx.snap.process.command + ")"
                                  : st.connection;
    ImGui::PushClipRect(ImGui::GetCursorScreenPos(), ImVec2(ImGui::GetCursorScreenPos().x + label_w, p.y + h), true);
    ImGui::TextUnformatted(label.c_str());
    ImGui::PopClipRect();
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", label.c_str());
    ImGui::SameLine(p.x - ImGui::GetWindowPos().x + label_w + 70);

    auto button = [&](const char *text, const char *tip, bool enabled) {
        ImGui::BeginDisabled(!enabled);
        const bool pressed = ImGui::Button(text);
        ImGui::EndDisabled();
        if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) ImGui::SetTooltip("%s", tip);
        ImGui::SameLine();
        return pressed;
    };
    if (button("Open", "Open a saved snapshot (Ctrl+O)", true)) ui_.open_dialog(Dialog::Open);
    if (button("Attach", "Processes to attach to (Ctrl+P)", true)) ui_.select_tab(Tab::Processes);
    if (button("Snapshot now", "Ask the live process for a fresh snapshot (F5)", st.live)) session_.request_snapshot();
    if (button("Save", "Save the snapshot shown (Ctrl+S)", has_data)) ui_.open_dialog(Dialog::Save);
    if (button("Export", "Export a report: every format nmleak report writes, or the snapshot (Ctrl+E)", has_data)) ui_.open_dialog(Dialog::Export);
    if (button("Compare", "Compare two snapshots (Ctrl+D)", true)) ui_.open_dialog(Dialog::Compare);
    const model::Expert *sel = ctx.filtered();
    ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(120, 40, 36, 255));
    ImGui::PushStyleColor(ImGuiCol_ButtonHovered, IM_COL32(160, 52, 46, 255));
    if (button("Terminate", "Ask the selected key's expert to terminate (Ctrl+T)",
               st.live && sel && sel->state == model::ExpertState::Running))
        request_terminate(ctx);
    ImGui::PopStyleColor(2);

    // The filter chip, right-aligned.
    const std::string chip = sel ? "Key: " + sel->name + " (" + std::to_string(sel->id) + ")" : "All keys";
    const float chip_w = ImGui::CalcTextSize(chip.c_str()).x + (sel ? 36 : 16);
    ImGui::SameLine(std::max(ImGui::GetCursorPosX(), ImGui::GetWindowContentRegionMax().x - chip_w));
    if (sel) {
        ImGui::PushStyleColor(ImGuiCol_Button, theme_.key_color(sel->id, 0.30f));
        if (ImGui::Button((chip + "  x").c_str())) ui_.select_expert(std::nullopt);
        ImGui::PopStyleColor();
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("Every view shows this key only. Click or Esc to show every key.");
    } else {
        ImGui::AlignTextToFramePadding();
        ImGui::TextDisabled("%s", chip.c_str());
    }
}

void App::tabs(ViewContext &ctx) {
    if (!ImGui::BeginTabBar("views", ImGuiTabBarFlags_FittingPolicyScroll)) return;
    const Aggregate &agg = ctx.m.agg;
    uint64_t misuse = 0;
    for (const auto &e : ctx.snap.experts)
        if (ctx.expert < 0 || &e == ctx.filtered()) misuse += e.misuse_count;
    uint64_t cleanups = 0;
    for (const CleanupRef &c : agg.cleanups)
        if (ctx.expert < 0 || c.expert == uint32_t(ctx.expert)) ++cleanups;
    uint64_t events = 0;
    for (const auto &e : ctx.snap.experts)
        if (ctx.expert < 0 || &e == ctx.filtered()) events += e.events.size() + e.events_dropped;
    for (int i = 0; i < int(Tab::Count); ++i) {
        const Tab t = Tab(i);
        char title[64];
        if (t == Tab::Events && events) std::snprintf(title, sizeof title, "%s (%llu)###%s", tab_title(t), (unsigned long long)events, tab_name(t));
        else if (t == Tab::Cleanups && cleanups) std::snprintf(title, sizeof title, "%s (%llu)###%s", tab_title(t), (unsigned long long)cleanups, tab_name(t));
        else if (t == Tab::Misuse && misuse) std::snprintf(title, sizeof title, "%s (%llu)###%s", tab_title(t), (unsigned long long)misuse, tab_name(t));
        else std::snprintf(title, sizeof title, "%s###%s", tab_title(t), tab_name(t));
        const ImGuiTabItemFlags flags = ui_.tab_forced && ui_.tab == t ? ImGuiTabItemFlags_SetSelected : 0;
        if (t == Tab::Misuse && misuse) ImGui::PushStyleColor(ImGuiCol_Text, theme_.misuse);
        const bool open = ImGui::BeginTabItem(title, nullptr, flags);
        if (t == Tab::Misuse && misuse) ImGui::PopStyleColor();
        if (!open) continue;
        if (!ui_.tab_forced) ui_.tab = t;
        ImGui::BeginChild("view", ImVec2(0, 0), false, ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
        if (ui_.tab == t) views_[size_t(i)]->draw(ctx);
        ImGui::EndChild();
        ImGui::EndTabItem();
    }
    ui_.tab_forced = false;
    ImGui::EndTabBar();
}

void App::status_line(ViewContext &ctx, float height) {
    const StatusLine st = session_.status();
    ImDrawList *dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x;
    dl->AddRectFilled(ImVec2(p.x - 6, p.y), ImVec2(p.x + w + 6, p.y + height + 4), ImGui::GetColorU32(ImGuiCol_MenuBarBg));
    ImGui::SetCursorScreenPos(ImVec2(p.x, p.y + 2));
    const ImU32 dot = st.live ? theme_.ok : ctx.m.source.kind == SourceKind::Live ? theme_.error : theme_.dim;
    ui::swatch(dot);
    ImGui::SameLine();
    ImGui::TextUnformatted(st.live ? "connected" : ctx.m.source.kind == SourceKind::Live ? "disconnected" : "offline");
    ImGui::SameLine(0, 16);
    if (st.busy) {
        static const char *spin[] = {"|", "/", "-", "\\"};
        ui::text_colored(theme_.accent, "%s %s...", spin[int(ImGui::GetTime() * 8) % 4], st.busy_text.c_str());
        ImGui::SameLine(0, 16);
    }
    if (!st.message.empty()) {
        const ImU32 col = st.level == Level::Error ? theme_.error
                        : st.level == Level::Warning ? theme_.warning
                        : st.level == Level::Ok ? theme_.ok : theme_.text;
        const double age_s = (now_ms() - st.message_ms) / 1000.0;
        ui::text_colored(col, "%s", st.message.c_str());
        if (age_s > 2) {
            ImGui::SameLine();
            ImGui::TextDisabled("(%s ago)", fmt::duration_ms(uint64_t(age_s * 1000)).c_str());
        }
    }
    char right[96];
    std::snprintf(right, sizeof right, "update %llu  |  %.1f ms/frame", (unsigned long long)ctx.m.generation,
                  1000.0f / std::max(1.0f, ImGui::GetIO().Framerate));
    ImGui::SameLine(std::max(ImGui::GetCursorPosX() + 20, ImGui::GetWindowContentRegionMax().x - ImGui::CalcTextSize(right).x));
    ImGui::TextDisabled("%s", right);
}

const std::vector<Shortcut> &shortcut_list() {
    static const std::vector<Shortcut> list = {
        {"Ctrl+O", "Open a snapshot file"},
        {"Ctrl+S", "Save the snapshot shown"},
        {"Ctrl+E", "Export a report (every format of nmleak report, or the snapshot)"},
        {"Ctrl+D", "Compare two snapshots"},
        {"Ctrl+P", "Processes: connect or attach"},
        {"F5", "Snapshot now (live)"},
        {"Ctrl+T", "Request terminate of the selected key (live)"},
        {"Ctrl+W", "Close the snapshot / detach"},
        {"Alt+1 .. Alt+0", "Switch view: Experts, Timeline, Bottom-up, Top-down, Flame graph, Blocks, Treemap, Cleanups, Misuse, Diff"},
        {"Ctrl+Tab", "Next view (Ctrl+Shift+Tab: previous)"},
        {"Esc", "Clear the stack selection, then the key filter"},
        {"Up / Down", "Move in a call tree"},
        {"Right / Left", "Expand / collapse a tree node"},
        {"Enter", "Show the blocks of the selected tree node"},
        {"Click / right-click", "Flame graph: zoom into a frame / show its blocks"},
        {"Ctrl+F", "Search frames (flame graph, call trees, blocks)"},
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
        if (pressed(GLFW_KEY_F)) {
            if (ui_.tab != Tab::Flame && ui_.tab != Tab::BottomUp && ui_.tab != Tab::TopDown && ui_.tab != Tab::Blocks)
                ui_.select_tab(Tab::Flame);
            ui_.focus_search = true;
        }
        if (pressed(GLFW_KEY_TAB)) {
            const int n = int(Tab::Count);
            ui_.select_tab(Tab((int(ui_.tab) + (io.KeyShift ? n - 1 : 1)) % n));
        }
    }
    if (io.KeyAlt && !io.KeyCtrl) {
        for (int i = 0; i < int(Tab::Count) && i < 10; ++i)
            if (pressed(GLFW_KEY_0 + (i + 1) % 10)) ui_.select_tab(Tab(i));
    }
}

} // namespace nm::gui

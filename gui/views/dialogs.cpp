// dialogs.cpp - the path dialogs (open, save, export, compare), attach, terminate confirmation and help.
//
// No native file dialog: a path input, with the snapshot files of the typed directory listed below
// it to pick from.
#include "app.hpp"

#include "export.hpp"
#include "format.hpp"
#include "widgets.hpp"

#include <imgui_stdlib.h>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>

namespace nm::gui {
namespace {

namespace fs = std::filesystem;

std::string default_name(const model::Snapshot &snap, const char *ext) {
    char stamp[32];
    const time_t t = time(nullptr);
    struct tm tm{};
    localtime_r(&t, &tm);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    return "nmleak-" + std::to_string(snap.process.pid) + "-" + stamp + ext;
}

// The snapshot files in the directory of `path` (cached per directory: listing is cheap, but not
// worth repeating every frame).
const std::vector<std::string> &snapshot_files(const std::string &path) {
    static std::string cached_dir = "\x01";
    static std::vector<std::string> files;
    std::string dir = path.empty() ? "." : path;
    if (dir.back() != '/') dir = fs::path(dir).parent_path().string();
    if (dir.empty()) dir = ".";
    if (dir == cached_dir) return files;
    cached_dir = dir;
    files.clear();
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d)) {
            const std::string name = e->d_name;
            if (name.size() > 7 && name.compare(name.size() - 7, 7, ".nmsnap") == 0)
                files.push_back(dir == "." ? name : (fs::path(dir) / name).string());
            if (files.size() >= 200) break;
        }
        closedir(d);
    }
    std::sort(files.begin(), files.end());
    return files;
}

// A path input that fills from the file list below it. True when Enter was pressed.
bool path_input(const char *label, std::string *path, bool focus, bool list_files) {
    if (focus) ImGui::SetKeyboardFocusHere();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 34);
    const bool enter = ImGui::InputText(label, path, ImGuiInputTextFlags_EnterReturnsTrue | ImGuiInputTextFlags_AutoSelectAll);
    if (list_files) {
        const auto &files = snapshot_files(*path);
        if (!files.empty()) {
            ImGui::TextDisabled("Snapshots here:");
            ImGui::BeginChild(label, ImVec2(ImGui::GetFontSize() * 34, std::min(8.0f, float(files.size())) * ImGui::GetTextLineHeightWithSpacing() + 6), true);
            for (const std::string &f : files)
                if (ImGui::Selectable(f.c_str(), f == *path)) *path = f;
            ImGui::EndChild();
        }
    }
    return enter;
}

bool buttons(const char *ok, bool enabled = true) {
    ImGui::Spacing();
    ImGui::BeginDisabled(!enabled);
    const bool pressed = ImGui::Button(ok, ImVec2(ImGui::GetFontSize() * 7, 0));
    ImGui::EndDisabled();
    ImGui::SameLine();
    if (ImGui::Button("Cancel", ImVec2(ImGui::GetFontSize() * 7, 0))) ImGui::CloseCurrentPopup();
    return pressed;
}

} // namespace

void App::dialogs(ViewContext &ctx) {
    static const char *const titles[] = {"", "Open snapshot", "Save snapshot", "Export report", "Compare snapshots",
                                         "Attach to a process", "Request terminate"};
    if (ui_.dialog == Dialog::None) return;
    const char *title = titles[int(ui_.dialog)];
    if (ui_.dialog_fresh) {
        ImGui::OpenPopup(title);
        switch (ui_.dialog) {
        case Dialog::Save: ui_.path = default_name(ctx.snap, ".nmsnap"); break;
        case Dialog::Export:
            ui_.export_format = std::clamp(ui_.export_format, 0, int(export_formats().size()) - 1);
            ui_.path = default_name(ctx.snap, export_formats()[size_t(ui_.export_format)].extension);
            break;
        case Dialog::Open:
        case Dialog::Compare:
            if (ui_.path.empty()) ui_.path = "./";
            break;
        default: break;
        }
    }
    const bool focus = ui_.dialog_fresh;
    ui_.dialog_fresh = false;
    ImGui::SetNextWindowPos(ImGui::GetMainViewport()->GetCenter(), ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
    if (!ImGui::BeginPopupModal(title, nullptr, ImGuiWindowFlags_AlwaysAutoResize)) {
        ui_.dialog = Dialog::None;
        return;
    }
    bool done = false;
    switch (ui_.dialog) {
    case Dialog::Open: {
        ImGui::TextUnformatted("A snapshot file (.nmsnap) saved by nmleak snapshot, NmWriteReport or this GUI:");
        const bool enter = path_input("##open", &ui_.path, focus, true);
        if ((buttons("Open") || enter) && !ui_.path.empty()) {
            session_.open_file(ui_.path);
            done = true;
        }
        break;
    }
    case Dialog::Save: {
        ImGui::TextUnformatted("Save the snapshot shown now (self-contained: frames are symbolized):");
        const bool enter = path_input("##save", &ui_.path, focus, false);
        if ((buttons("Save") || enter) && !ui_.path.empty()) {
            session_.save_snapshot(ui_.path);
            done = true;
        }
        break;
    }
    case Dialog::Export: {
        const auto &formats = export_formats();
        ImGui::SetNextItemWidth(ImGui::GetFontSize() * 10);
        if (ImGui::BeginCombo("Format", formats[size_t(ui_.export_format)].name)) {
            for (size_t i = 0; i < formats.size(); ++i)
                if (ImGui::Selectable(formats[i].name, int(i) == ui_.export_format)) {
                    ui_.export_format = int(i);
                    ui_.path = strip_export_extension(ui_.path) + formats[i].extension;
                }
            ImGui::EndCombo();
        }
        ImGui::SameLine();
        ImGui::TextDisabled("read by %s", formats[size_t(ui_.export_format)].readers);
        const bool enter = path_input("##export", &ui_.path, focus, false);
        if ((buttons("Export") || enter) && !ui_.path.empty()) {
            session_.export_report(ui_.path, formats[size_t(ui_.export_format)].name);
            done = true;
        }
        break;
    }
    case Dialog::Compare: {
        ImGui::TextUnformatted("Before (a snapshot file):");
        const bool enter = path_input("##before", &ui_.path, focus, true);
        ImGui::TextUnformatted("After (a snapshot file; empty: the one shown now):");
        ImGui::SetNextItemWidth(ImGui::GetFontSize() * 34);
        ImGui::InputText("##after", &ui_.path2);
        if ((buttons("Compare") || enter) && !ui_.path.empty()) {
            session_.compare(ui_.path, ui_.path2);
            ui_.select_tab(Tab::Diff);
            done = true;
        }
        break;
    }
    case Dialog::Attach: {
        ImGui::TextUnformatted("Process id:");
        if (focus) ImGui::SetKeyboardFocusHere();
        ImGui::SetNextItemWidth(ImGui::GetFontSize() * 8);
        ImGui::InputText("##pid", &ui_.path2, ImGuiInputTextFlags_CharsDecimal);
        const int pid = std::atoi(ui_.path2.c_str());
        ImGui::Spacing();
        ImGui::BeginDisabled(pid <= 0);
        if (ImGui::Button("Connect", ImVec2(ImGui::GetFontSize() * 7, 0))) {
            session_.connect(pid);
            done = true;
        }
        ImGui::SameLine();
        if (ImGui::Button("Inject and attach", ImVec2(ImGui::GetFontSize() * 9, 0))) {
            session_.attach(pid);
            done = true;
        }
        ImGui::EndDisabled();
        ImGui::SameLine();
        if (ImGui::Button("Cancel")) ImGui::CloseCurrentPopup();
        ImGui::TextDisabled("Connect: the process runs the agent (nmleak run). Inject: nmleak attach first.");
        break;
    }
    case Dialog::Terminate: {
        ImGui::Text("Ask %s (key %llu) to terminate?", ui_.terminate_name.c_str(), (unsigned long long)ui_.terminate_id);
        ImGui::TextDisabled("Its allocations then fail with NMERR_EXPERT_TERMINATE; the host closes the key and\n"
                            "reclaims what it still holds (a forced cleanup).");
        ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(140, 44, 40, 255));
        if (buttons("Terminate")) {
            session_.request_terminate(ui_.terminate_id, ui_.terminate_name);
            done = true;
        }
        ImGui::PopStyleColor();
        break;
    }
    case Dialog::None: break;
    }
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape))) ImGui::CloseCurrentPopup();
    if (done) ImGui::CloseCurrentPopup(); // the next frame's BeginPopupModal fails: dialog = None
    ImGui::EndPopup();
}

void App::help_window(ViewContext &ctx) {
    if (!ui_.show_help) return;
    ImGui::SetNextWindowSize(ImVec2(ImGui::GetFontSize() * 44, ImGui::GetFontSize() * 36), ImGuiCond_Appearing);
    ImGui::SetNextWindowPos(ImGui::GetMainViewport()->GetCenter(), ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
    if (!ImGui::Begin("Help", &ui_.show_help, ImGuiWindowFlags_NoCollapse)) {
        ImGui::End();
        return;
    }
    ui::heading(ctx.theme, "Keyboard shortcuts");
    if (ImGui::BeginTable("keys", 2, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchProp)) {
        ImGui::TableSetupColumn("keys", ImGuiTableColumnFlags_WidthFixed, ImGui::GetFontSize() * 10);
        for (const Shortcut &s : shortcut_list()) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::PushFont(ctx.theme.mono);
            ImGui::TextUnformatted(s.keys);
            ImGui::PopFont();
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(s.action);
        }
        ImGui::EndTable();
    }
    ImGui::Spacing();
    ui::heading(ctx.theme, "Colours");
    for (Retention r : {Retention::Outstanding, Retention::Leaked, Retention::Reclaimed}) {
        ui::swatch(ctx.theme.retention_color(r));
        ImGui::SameLine();
        ImGui::TextUnformatted(r == Retention::Outstanding ? "outstanding: live blocks of an open key (may yet be freed)"
                               : r == Retention::Leaked    ? "leaked: still held when the key was closed with outcome done"
                                                           : "reclaimed: freed by a forced cleanup (failed, terminated, crashed, timeout)");
    }
    ui::swatch(ctx.theme.misuse);
    ImGui::SameLine();
    ImGui::TextUnformatted("misuse: double free, unknown or interior pointer, another key's block");
    ImGui::Spacing();
    ui::heading(ctx.theme, "Views");
    ImGui::TextWrapped("Selecting a key in the experts table filters every view to it. Selecting a node in a call "
                       "tree, a cell of the treemap or a stack in the cleanup log selects those stacks: the Blocks "
                       "view lists their live blocks. The flame graph shows the same memory by call stack: click a "
                       "frame to zoom into it. One search (Ctrl+F) highlights frames in the flame graph and "
                       "filters the call trees and the block list. A live session keeps a history of each key for the timeline; "
                       "an offline snapshot's history is derived from the allocation times of its live blocks.");
    ImGui::End();
}

} // namespace nm::gui

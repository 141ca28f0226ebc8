// process_view.cpp - processes to attach to: running agents (connect) and libnmapi users (inject, then connect).
#include "views.hpp"

#include "format.hpp"
#include "live_link.hpp"
#include "widgets.hpp"

#include <cstdlib>

namespace nm::gui {
namespace {

class ProcessView final : public View {
public:
    Tab tab() const override { return Tab::Processes; }
    void draw(ViewContext &ctx) override {
        const Theme &th = ctx.theme;
        ctx.procs.set_active(true);
        std::shared_ptr<const std::vector<ProcessEntry>> list = ctx.procs.list();
        if (ImGui::Button("Refresh")) ctx.procs.refresh();
        ImGui::SameLine();
        ImGui::SetNextItemWidth(ImGui::GetFontSize() * 6);
        ImGui::InputTextWithHint("##pid", "pid", pid_text_, sizeof pid_text_, ImGuiInputTextFlags_CharsDecimal);
        ImGui::SameLine();
        const int pid = std::atoi(pid_text_);
        ImGui::BeginDisabled(pid <= 0);
        if (ImGui::Button("Connect")) ctx.session.connect(pid);
        ImGui::SameLine();
        if (ImGui::Button("Attach (inject the agent)")) ctx.session.attach(pid);
        ImGui::EndDisabled();
        ImGui::SameLine(0, 20);
        if (!live_protocol_available())
            ui::text_colored(th.warning, "This build has no live protocol: open snapshot files instead (Ctrl+O).");
        else
            ImGui::TextDisabled("Agents listen under %s", agent_socket_dirs().front().c_str());

        const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter | ImGuiTableFlags_BordersInnerV |
                                      ImGuiTableFlags_Resizable | ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingFixedFit;
        if (!ImGui::BeginTable("processes", 6, flags, ImGui::GetContentRegionAvail())) return;
        const float em = ImGui::GetFontSize();
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableSetupColumn("PID", 0, em * 4.5f);
        ImGui::TableSetupColumn("Agent", 0, em * 7.5f);
        ImGui::TableSetupColumn("RSS", 0, em * 5.5f);
        ImGui::TableSetupColumn("Live bytes", 0, em * 5.5f);
        ImGui::TableSetupColumn("", 0, em * 6.0f);
        ImGui::TableSetupColumn("Command", ImGuiTableColumnFlags_WidthStretch);
        ImGui::TableHeadersRow();
        if (list->empty()) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::TableNextColumn();
            ImGui::TextDisabled("No process uses libnmapi. Start one with: nmleak run -- ./analyzer ...");
        }
        for (const ProcessEntry &p : *list) {
            ImGui::PushID(p.pid);
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            if (ImGui::Selectable(std::to_string(p.pid).c_str(), std::atoi(pid_text_) == p.pid,
                                  ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap |
                                      ImGuiSelectableFlags_AllowDoubleClick)) {
                std::snprintf(pid_text_, sizeof pid_text_, "%d", p.pid);
                if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) open(ctx, p);
            }
            ImGui::TableNextColumn();
            if (p.has_agent) ui::badge("listening", th.ok);
            else if (p.uses_nmapi) ui::badge("libnmapi", th.dim);
            ImGui::TableNextColumn();
            ui::bytes_cell(p.rss_bytes);
            ImGui::TableNextColumn();
            if (p.live_known) ui::bytes_cell(p.live_bytes, th.outstanding);
            else ui::text_right("?", th.dim);
            ImGui::TableNextColumn();
            if (ImGui::SmallButton(p.has_agent ? "Connect" : "Attach")) open(ctx, p);
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(p.command.c_str());
            ImGui::PopID();
        }
        ImGui::EndTable();
    }

private:
    static void open(ViewContext &ctx, const ProcessEntry &p) {
        if (p.has_agent) ctx.session.connect(p.pid);
        else ctx.session.attach(p.pid);
        ctx.ui.select_tab(Tab::Overview);
    }
    char pid_text_[16] = "";
};

} // namespace

std::unique_ptr<View> make_process_view() { return std::make_unique<ProcessView>(); }

} // namespace nm::gui
